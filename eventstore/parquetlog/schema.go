package parquetlog

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/ticketd/ticketd/domain"
)

// Column is one column of the files, as Columns lists it.
type Column struct {
	Name string
	// Type is the column's Parquet type: its physical type and, where it
	// has one, its logical type, such as "INT64", "BYTE_ARRAY STRING" or
	// "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)".
	Type string
	// Nullable is false for the envelope's columns and the hash, which every
	// event has.
	Nullable bool
}

// Columns returns the files' columns in order: position, id, stream_id,
// version, type, occurred_at; one per member of every event type's data
// (domain.DataFields, null in rows of types without it); request_id and
// correlation_id from the metadata (null when absent); hash.
func Columns() []Column {
	out := make([]Column, len(columns))
	for i, c := range columns {
		out[i] = Column{Name: c.Name(), Type: typeName(c), Nullable: c.Optional()}
	}
	return out
}

func typeName(n parquet.Node) string {
	t := n.Type()
	name := t.Kind().String()
	if lt := t.LogicalType(); lt != nil {
		name += " " + lt.String()
	}
	return name
}

// Indexes of the fixed columns in a row; data members start at colData.
const (
	colPosition = iota
	colID
	colStreamID
	colVersion
	colType
	colOccurredAt
	colData
)

var (
	dataFields = domain.DataFields()

	colRequestID     = colData + len(dataFields)
	colCorrelationID = colRequestID + 1
	colHash          = colRequestID + 2

	columns    = newColumns(dataFields)
	fileSchema = parquet.NewSchema("event", columnGroup{columns})
)

// newColumns returns the files' columns; it panics when a data member has
// the name of another column.
func newColumns(data []domain.DataField) []parquet.Field {
	str := parquet.String()
	// Strings that repeat (types, names, titles, request ids) take little
	// room in a dictionary; unique ones (ids, hashes) fall back to plain
	// encoding once the dictionary grows past its limit.
	dict := parquet.Encoded(str, &parquet.RLEDictionary)
	micros := parquet.Timestamp(parquet.Microsecond)
	int64s := parquet.Leaf(parquet.Int64Type)
	cols := []parquet.Field{
		field("position", int64s),
		field("id", str),
		field("stream_id", str),
		field("version", int64s),
		field("type", dict),
		field("occurred_at", micros),
	}
	for _, f := range data {
		var n parquet.Node
		switch f.Kind {
		case domain.KindString:
			n = dict
		case domain.KindInt:
			n = int64s
		case domain.KindBool:
			n = parquet.Leaf(parquet.BooleanType)
		case domain.KindFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case domain.KindTime:
			n = micros
		default:
			n = parquet.JSON()
		}
		cols = append(cols, field(f.Name, parquet.Optional(n)))
	}
	cols = append(cols,
		field("request_id", parquet.Optional(dict)),
		field("correlation_id", parquet.Optional(dict)),
		field("hash", str),
	)
	for i, c := range cols {
		if slices.IndexFunc(cols[:i], func(o parquet.Field) bool { return o.Name() == c.Name() }) >= 0 {
			panic(fmt.Sprintf("parquetlog: data member %q has the name of another column", c.Name()))
		}
	}
	return cols
}

// namedNode is a node with its name in the group.
type namedNode struct {
	parquet.Node
	name string
}

func (n namedNode) Name() string { return n.name }

// Value implements parquet.Field for Go values, which the files are never
// built from (rows are parquet.Row): it returns the zero reflect.Value.
func (namedNode) Value(reflect.Value) reflect.Value { return reflect.Value{} }

func field(name string, n parquet.Node) parquet.Field { return namedNode{Node: n, name: name} }

// columnGroup is the files' root: a group whose columns keep their order
// (a parquet.Group sorts them by name).
type columnGroup struct{ fields []parquet.Field }

func (columnGroup) ID() int                     { return 0 }
func (columnGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (columnGroup) Optional() bool              { return false }
func (columnGroup) Repeated() bool              { return false }
func (columnGroup) Required() bool              { return true }
func (columnGroup) Leaf() bool                  { return false }
func (g columnGroup) Fields() []parquet.Field   { return g.fields }
func (columnGroup) Encoding() encoding.Encoding { return nil }
func (columnGroup) Compression() compress.Codec { return nil }

// GoType is the struct type of a parquet.Group of the same columns.
func (g columnGroup) GoType() reflect.Type {
	group := parquet.Group{}
	for _, f := range g.fields {
		group[f.Name()] = f
	}
	return group.GoType()
}

// String is the schema in Parquet's message notation.
func (g columnGroup) String() string {
	var b strings.Builder
	parquet.PrintSchema(&b, "event", g)
	return b.String()
}
