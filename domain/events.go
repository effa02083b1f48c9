package domain

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// eventPrototypes declares every event type, in a stable order, by the zero
// value of the Go type that is its data. Declaring a type here is all it
// takes to make it known: EventTypes (and so every type filter), DecodeEvent,
// and DataFields, from which exports derive their columns, one per data
// field. A data type is a flat struct: its exported fields are the data's
// members, named as encoding/json names them; a json:"-" field is left out.
var eventPrototypes = []Event{TicketIssued{}, TicketRefunded{}, ShowingScheduled{}, SeatsHeld{}, HoldReleased{}, HoldExpired{}}

// EventTypes lists every event type, in a stable order.
var EventTypes = func() []string {
	types := make([]string, len(eventPrototypes))
	for i, e := range eventPrototypes {
		types[i] = e.EventType()
	}
	return types
}()

// IsEventType reports whether t names a known event type.
func IsEventType(t string) bool {
	return slices.Contains(EventTypes, t)
}

// DecodeEvent parses the stored data of an event of type typ. It fails on an
// unknown type or data that is not the JSON of that type.
func DecodeEvent(typ string, data []byte) (Event, error) {
	i := slices.Index(EventTypes, typ)
	if i < 0 {
		return nil, fmt.Errorf("decode event: unknown type %q", typ)
	}
	e := reflect.New(reflect.TypeOf(eventPrototypes[i]))
	if err := json.Unmarshal(data, e.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e.Elem().Interface().(Event), nil
}

// FieldKind is the kind of value a field of event data holds.
type FieldKind int

// The kinds of data fields, by the Go type of the field (a pointer counts
// as the type it points to).
const (
	// KindString is text (a string type).
	KindString FieldKind = iota + 1
	// KindInt is an integer (a signed integer type, or uint8 to uint32).
	KindInt
	// KindBool is a boolean.
	KindBool
	// KindFloat is a floating-point number.
	KindFloat
	// KindTime is an instant (time.Time).
	KindTime
	// KindJSON is any other value (a struct, slice, map, a wider unsigned
	// integer, a type with its own JSON or text encoding), as its JSON text.
	KindJSON
)

// String returns the kind's name: "string", "int", "bool", "float", "time" or "json".
func (k FieldKind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindBool:
		return "bool"
	case KindFloat:
		return "float"
	case KindTime:
		return "time"
	case KindJSON:
		return "json"
	}
	return fmt.Sprintf("FieldKind(%d)", int(k))
}

// DataField is one member of event data, as DataFields lists it.
type DataField struct {
	// Name is the member's name in the data's JSON.
	Name string
	Kind FieldKind
	// Types are the event types whose data carry the member, in EventTypes order.
	Types []string
}

// DataFields returns every member of the data of every event type, each
// name once, in the order of EventTypes and, within a type, of its struct
// fields. Where several types carry the same name they carry the same kind
// (TestDataFieldsHaveOneKindPerName guards the declarations).
func DataFields() []DataField {
	fields := make([]DataField, len(dataSchema.fields))
	for i, f := range dataSchema.fields {
		fields[i] = f
		fields[i].Types = slices.Clone(f.Types)
	}
	return fields
}

// DataValues calls fn for every member of e's data that holds a value,
// with its index in DataFields and the value as a string, int64, bool,
// float64, time.Time or, for KindJSON, json.RawMessage. Members that are
// null in the data's JSON (a nil pointer, or a zero value with omitempty)
// are skipped. It panics on an Event whose type eventPrototypes does not
// declare.
func DataValues(e Event, fn func(field int, value any)) {
	dataSchema.values(e, fn)
}

func (s eventDataSchema) values(e Event, fn func(field int, value any)) {
	v := reflect.ValueOf(e)
	members, ok := s.members[v.Type()]
	if !ok {
		panic(fmt.Sprintf("domain: event type %T is not declared", e))
	}
	for _, m := range members {
		f := v.Field(m.index)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		} else if m.omitEmpty && f.IsZero() {
			continue
		}
		fn(m.field, m.value(f))
	}
}

// dataSchema is the members of every declared event type's data.
var dataSchema = newDataSchema(eventPrototypes)

type eventDataSchema struct {
	fields []DataField
	// members are each data type's members with a column, in field order.
	members map[reflect.Type][]dataMember
}

// dataMember is one struct field of a data type.
type dataMember struct {
	index     int // in the struct
	field     int // in DataFields
	omitEmpty bool
	value     func(reflect.Value) any
}

// newDataSchema derives the data fields of events; it panics when one name
// has two kinds, as no single column could hold it.
func newDataSchema(events []Event) eventDataSchema {
	s := eventDataSchema{members: map[reflect.Type][]dataMember{}}
	for _, e := range events {
		t := reflect.TypeOf(e)
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() || sf.Anonymous {
				continue
			}
			name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			kind, value := fieldKind(sf.Type)
			at := slices.IndexFunc(s.fields, func(f DataField) bool { return f.Name == name })
			if at < 0 {
				at = len(s.fields)
				s.fields = append(s.fields, DataField{Name: name, Kind: kind})
			}
			if s.fields[at].Kind != kind {
				panic(fmt.Sprintf("domain: data member %q is %s in %s but %s in %s", name, kind, e.EventType(), s.fields[at].Kind, strings.Join(s.fields[at].Types, ", ")))
			}
			s.fields[at].Types = append(s.fields[at].Types, e.EventType())
			omitEmpty := slices.Contains(strings.Split(opts, ","), "omitempty")
			s.members[t] = append(s.members[t], dataMember{index: i, field: at, omitEmpty: omitEmpty, value: value})
		}
	}
	return s
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// fieldKind returns the kind of a struct field of type t and how to read
// its value (of t, or of what t points to).
func fieldKind(t reflect.Type) (FieldKind, func(reflect.Value) any) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return KindTime, func(v reflect.Value) any { return v.Interface().(time.Time) }
	case t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return KindJSON, jsonValue
	}
	switch t.Kind() {
	case reflect.String:
		return KindString, func(v reflect.Value) any { return v.String() }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return KindInt, func(v reflect.Value) any { return v.Int() }
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return KindInt, func(v reflect.Value) any { return int64(v.Uint()) }
	case reflect.Bool:
		return KindBool, func(v reflect.Value) any { return v.Bool() }
	case reflect.Float32, reflect.Float64:
		return KindFloat, func(v reflect.Value) any { return v.Float() }
	}
	return KindJSON, jsonValue
}

// jsonValue returns v's JSON text, as the data's JSON holds it.
func jsonValue(v reflect.Value) any {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}
