package projections

import (
	"context"
	"fmt"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ReadModel is one read model: the tables it keeps and how events become
// changes of their rows. It names no engine: projections/sqlite and
// projections/postgres store the rows of any read model (see Storage).
type ReadModel interface {
	// Schema names the model (its checkpoint's name), its tables and
	// their version.
	Schema() Schema
	// EventTypes are the types of the events the model reads; Fold sees
	// no others.
	EventTypes() []string
	// Folder returns what folds batches of consecutive events for one pass
	// over the log: rebuild is set for a pass from empty tables (a replay or
	// a fresh fold to compare with), whose folder may keep what it folded
	// in memory for the pass; a projector keeps one live folder.
	Folder(rebuild bool) Folder
}

// Folder turns events into row changes.
type Folder interface {
	// Fold returns the changes events (consecutive events of the model's
	// types, in position order) make to the model's rows, as rows holds
	// them before the first: at most one change per row, in no particular
	// order. It fails on an event it cannot fold.
	Fold(ctx context.Context, rows Rows, events []Event) ([]Change, error)
}

// Event is a record of the log with its data decoded, once for every model
// that folds it.
type Event struct {
	eventstore.Record
	Value domain.Event
}

// decode returns the events of records whose type is in types, decoded,
// failing on the first that cannot be decoded.
func decode(records []eventstore.Record, types map[string]bool) ([]Event, error) {
	events := make([]Event, 0, len(records))
	for _, rec := range records {
		if !types[rec.Type] {
			continue
		}
		e, err := rec.Event()
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", rec.Position, err)
		}
		events = append(events, Event{Record: rec, Value: e})
	}
	return events, nil
}

// Schema is what a read model stores: its tables, and the version of their
// layout and of the fold that fills them. A build that changes either bumps
// Version, and the next start discards the stored rows and folds the log
// again before the model serves its queries.
type Schema struct {
	// Name is the model's checkpoint name, unique among read models.
	Name    string
	Version int
	Tables  []Table
}

// Table is one table of a read model.
type Table struct {
	Name    string
	Columns []Column
	// Key is how many leading columns form the primary key.
	Key int
	// Unique are the columns whose values are unique, which Lookup finds
	// rows by besides the key's first column. They name the row as its key
	// does: an Upsert or Add of a row whose key is stored leaves them as
	// they are (so their index is not rewritten).
	Unique []string
	// Indexes are column lists queries filter and order by.
	Indexes [][]string
}

// Column is one column of a table.
type Column struct {
	Name string
	Type ColumnType
}

// ColumnType is the type of a column's values in a Row.
type ColumnType int

// The column types: Integer is an int64, Text a string, NullableText a
// *string (nil for NULL). Text compares byte-wise on every engine.
const (
	Integer ColumnType = iota
	Text
	NullableText
)

// Row is the values of one row, in the order of its table's columns.
type Row []any

// Op is what a Change does to its row.
type Op int

// Upsert writes the row whole; Add inserts it, or adds its non-key Integer
// columns to those of the stored row with its key; Delete removes the row
// with its key.
const (
	Upsert Op = iota
	Add
	Delete
)

// Change is one row change of a fold.
type Change struct {
	Table string
	Op    Op
	Row   Row
}

// Rows reads stored rows.
type Rows interface {
	// Lookup returns the rows of table whose column (the key's first column
	// or a Unique one) has one of values, in no particular order.
	Lookup(ctx context.Context, table, column string, values []any) ([]Row, error)
}

// Storage keeps the rows of read models and their checkpoints in the
// database of the event log: projections/sqlite and projections/postgres
// implement it for any read model, and projections/projectiontest holds
// both to one behaviour. A database handle or a transaction never crosses
// it.
type Storage interface {
	// Tables returns the storage of the tables of s.
	Tables(s Schema) Tables
}

// Tables are the stored tables of one read model and its checkpoint. Their
// methods are safe for concurrent use; storage faults come back as
// CodeUnavailable errors.
type Tables interface {
	Rows
	// Prepare makes the tables ready to write and returns the version the
	// stored rows had: the schema's when they are kept; else the tables
	// are emptied (created, or dropped and created again), the checkpoint
	// set to 0 and the schema's version recorded, and the version returned
	// is the one stored before, 0 for none.
	Prepare(ctx context.Context) (stored int, err error)
	// Version returns the version recorded for the model, 0 for none; it
	// writes nothing.
	Version(ctx context.Context) (int, error)
	// Checkpoint returns the position the rows reflect, 0 for none.
	Checkpoint(ctx context.Context) (int64, error)
	// Apply moves the checkpoint from prev to pos and makes changes, in one
	// transaction; it fails with ErrCheckpointMoved, changing nothing, when
	// the stored checkpoint is not prev (none counts as 0), and on
	// PostgreSQL with an error wrapping eventstore.ErrFenced once the
	// store's leader lease has moved on.
	Apply(ctx context.Context, prev, pos int64, changes []Change) error
	// Reset empties the tables and moves the checkpoint from prev to 0, in
	// one transaction, failing as Apply does.
	Reset(ctx context.Context, prev int64) error
	// Read calls fn with one consistent state of the tables and the
	// checkpoint they reflect, valid until fn returns; tables never created
	// read as empty.
	Read(ctx context.Context, fn func(r Reader, checkpoint int64) error) error
}

// Reader reads the tables of one state (see Storage.Read). Calls must not
// be nested: no call from inside Each's fn.
type Reader interface {
	Rows
	// Query returns the rows q selects.
	Query(ctx context.Context, q Query) ([]Row, error)
	// Count returns how many rows of table match every condition of where.
	Count(ctx context.Context, table string, where []Eq) (int64, error)
	// Each calls fn with every row of table in key order, stopping at fn's
	// first error and returning it.
	Each(ctx context.Context, table string, fn func(Row) error) error
}

// Query selects rows of one table.
type Query struct {
	Table string
	Where []Eq
	// Between, when set, keeps rows whose column is within [From, To].
	Between *Between
	OrderBy []Order
	// Limit 0 is no limit.
	Limit, Offset int
}

// Eq is the condition that Column equals Value.
type Eq struct {
	Column string
	Value  any
}

// Between is the condition that Column lies within [From, To].
type Between struct {
	Column   string
	From, To any
}

// Order is one column of an ordering.
type Order struct {
	Column string
	Desc   bool
}

// TableNamed returns the table of s called name, and whether there is one.
func (s Schema) TableNamed(name string) (Table, bool) {
	for _, t := range s.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Column returns the index of column name in t, -1 when t has none.
func (t Table) Column(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}
