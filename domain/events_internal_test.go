package domain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Data types of every kind, for the derivation alone (never declared).
type (
	everyKind struct {
		Text     string     `json:"text"`
		Count    int32      `json:"count,omitempty"`
		Small    uint8      `json:"small"`
		Flag     *bool      `json:"flag"`
		Ratio    float64    `json:"ratio"`
		At       time.Time  `json:"at"`
		Until    *time.Time `json:"until"`
		Tags     []string   `json:"tags"`
		Big      uint64     `json:"big"`
		Duration jsonText   `json:"duration"`
		Hidden   string     `json:"-"`
		Untagged string
		internal string
	}
	jsonText      string
	sameNameOther struct {
		Text int64 `json:"text"`
	}
)

func (everyKind) EventType() string     { return "EveryKind" }
func (sameNameOther) EventType() string { return "SameNameOther" }

func (j jsonText) MarshalJSON() ([]byte, error) { return json.Marshal("~" + string(j)) }

func TestDataSchemaDerivesKindsFromGoTypes(t *testing.T) {
	s := newDataSchema([]Event{everyKind{}})
	kinds := map[string]FieldKind{}
	for _, f := range s.fields {
		kinds[f.Name] = f.Kind
	}
	want := map[string]FieldKind{"text": KindString, "count": KindInt, "small": KindInt, "flag": KindBool, "ratio": KindFloat,
		"at": KindTime, "until": KindTime, "tags": KindJSON, "big": KindJSON, "duration": KindJSON, "Untagged": KindString}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	yes := true
	got := map[string]any{}
	s.values(everyKind{Text: "t", Small: 7, Flag: &yes, At: at, Tags: []string{"a"}, Big: 1 << 63, Duration: "d", Hidden: "h"},
		func(i int, v any) { got[s.fields[i].Name] = v })
	wantValues := map[string]any{"text": "t", "small": int64(7), "flag": true, "ratio": 0.0, "at": at, "tags": json.RawMessage(`["a"]`),
		"big": json.RawMessage(`9223372036854775808`), "duration": json.RawMessage(`"~d"`), "Untagged": ""}
	if !reflect.DeepEqual(got, wantValues) {
		t.Errorf("values %v, want %v (count omitted when zero, nil pointers null)", got, wantValues)
	}
}

func TestDataSchemaRefusesOneNameWithTwoKinds(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"text"`) {
			t.Errorf("panic %v, want one naming the member", r)
		}
	}()
	newDataSchema([]Event{everyKind{}, sameNameOther{}})
}
