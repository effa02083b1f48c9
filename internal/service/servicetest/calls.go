package servicetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SeedIssue is the body of a valid issue of two tickets.
var SeedIssue = map[string]any{
	"theater_name": "CGV 강남",
	"user_id":      "user123",
	"movie_title":  "영화 제목",
	"price_krw":    15000,
	"quantity":     2,
	"memo":         "VIP석",
}

// With returns a copy of base with the key, value pairs kv set (a key
// paired with Deleted removed).
func With(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == Deleted {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// Deleted removes a key in With.
var Deleted = &struct{}{}

// TicketIDs returns the ticket_ids of an issue's 201 response.
func TicketIDs(t testing.TB, r Response) []string {
	t.Helper()
	var ids []string
	for _, id := range r.JSON(t)["ticket_ids"].([]any) {
		ids = append(ids, id.(string))
	}
	return ids
}

// IssueOK issues tickets and returns their ids, failing the test on any non-201.
func (c *Client) IssueOK(body map[string]any, headers ...string) []string {
	c.t.Helper()
	r := c.Do("POST", "/tickets/issue", body, headers...)
	if r.Status != http.StatusCreated {
		c.t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	return TicketIDs(c.t, r)
}

// LogHead returns the number of events in the log, read over HTTP.
func (c *Client) LogHead() int {
	c.t.Helper()
	n := 0
	for after := 0; ; {
		r := c.Do("GET", fmt.Sprintf("/events?after=%d&limit=1000", after), nil)
		events := r.JSON(c.t)["events"].([]any)
		if len(events) == 0 {
			return n
		}
		n += len(events)
		after = int(r.JSON(c.t)["next_after"].(float64))
	}
}

// RawEvents returns the first 1000 events of the log as served.
func (c *Client) RawEvents() []json.RawMessage {
	c.t.Helper()
	var page struct{ Events []json.RawMessage }
	if err := json.Unmarshal(c.Do("GET", "/events?limit=1000", nil).Body, &page); err != nil {
		c.t.Fatal(err)
	}
	return page.Events
}

// AuditHead returns GET /audit/head as position:hash.
func (c *Client) AuditHead() string {
	c.t.Helper()
	r := c.Do("GET", "/audit/head", nil)
	var head struct {
		Position int64  `json:"position"`
		Hash     string `json:"hash"`
	}
	if err := json.Unmarshal(r.Body, &head); err != nil || r.Status != http.StatusOK {
		c.t.Fatalf("GET /audit/head = %d %s (%v)", r.Status, r.Body, err)
	}
	return fmt.Sprintf("%d:%s", head.Position, head.Hash)
}

// Readiness is a /readyz answer.
type Readiness struct {
	Status any    `json:"status"` // "ready", or 503 in a problem
	Detail string `json:"detail"`
	Checks map[string]struct {
		Status    string `json:"status"`
		LagEvents *int64 `json:"lag_events"`
		Detail    string `json:"detail"`
	} `json:"checks"`
}

// Readyz returns GET /readyz's status and body.
func (c *Client) Readyz() (int, Readiness) {
	c.t.Helper()
	r := c.Do("GET", "/readyz", nil)
	var body Readiness
	if err := json.Unmarshal(r.Body, &body); err != nil {
		c.t.Fatalf("readyz body: %v\n%s", err, r.Body)
	}
	return r.Status, body
}

// Scrape returns the metric families GET /metrics serves.
func (c *Client) Scrape() map[string]*dto.MetricFamily {
	c.t.Helper()
	r := c.Do("GET", "/metrics", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		c.t.Fatalf("GET /metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		c.t.Fatalf("parse metrics: %v", err)
	}
	return families
}

// StartClient starts a service on a new SQLite database and returns a client of it.
func StartClient(t *testing.T) *Client {
	t.Helper()
	return NewClient(t, Start(t, Config(t.TempDir())))
}

// ProblemFields returns the field names a problem's errors list names.
func ProblemFields(t testing.TB, r Response) []string {
	t.Helper()
	p := r.JSON(t)
	if p["status"] != float64(r.Status) || p["title"] == "" || p["type"] == "" || p["detail"] == "" {
		t.Errorf("problem lacks type/title/status/detail: %s", r.Body)
	}
	var fields []string
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	sort.Strings(fields)
	return fields
}

// MetricValue returns the value of the sample of metric name with the given
// label name, value pairs (0 when there is none): a counter's or gauge's
// value, or a histogram's count or sum for name + "_count" or "_sum".
func MetricValue(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	family, part := families[name], ""
	for _, suffix := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && family == nil {
			family, part = families[base], suffix
		}
	}
	if family == nil {
		return 0
	}
	for _, m := range family.GetMetric() {
		if !HasLabels(m, labels) {
			continue
		}
		switch {
		case part == "_count":
			return float64(m.GetHistogram().GetSampleCount())
		case part == "_sum":
			return m.GetHistogram().GetSampleSum()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		default:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// HasLabels reports whether m has every label name, value pair of labels.
func HasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if have[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}
