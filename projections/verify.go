package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ticketd/ticketd/eventstore"
)

// Kinds of eventstore.Problem the read models' check reports.
const (
	ProblemTicketDiffers    = "ticket_differs"    // the row's fields differ from the fold of its stream
	ProblemTicketMissing    = "ticket_missing"    // a ticket's stream has no row
	ProblemTicketUnexpected = "ticket_unexpected" // a row has no stream behind it
	ProblemUndecodableEvent = "undecodable_event" // an event's data cannot be read
	ProblemEventNotFolded   = "event_not_folded"  // an event the read model cannot fold (a refund of no ticket)
	ProblemRowDiffers       = "row_differs"       // a row of a read model without its own kinds
)

// describer is a read model that words the problems of its rows itself:
// Describe returns the problem of a row of table that differs from the
// fresh fold of the log up to checkpoint (want), or that one of them lacks
// (nil).
type describer interface {
	Describe(table string, want, got Row, checkpoint int64) eventstore.Problem
}

// Describe words the problems of the tickets table.
func (t *Tickets) Describe(_ string, want, got Row, checkpoint int64) eventstore.Problem {
	return describeTicket(want, got, checkpoint)
}

// ModelReport is the result of Verify for one read model.
type ModelReport struct {
	Name string
	// Checkpoint is the position the tables had applied; they are compared
	// with the fold of the log up to it. Rows counts the rows of each table.
	Checkpoint int64
	Rows       map[string]int64
	// Stale is set when the stored tables are of another version of the
	// model: the next start rebuilds them, and they are not compared.
	Stale bool
	eventstore.Problems
}

// Verify folds the log again up to the checkpoint of m's tables in storage,
// in memory, and compares the result with the stored rows, row by row,
// within one state of the tables. progress, when set, gets the position
// folded. It returns an error only when the database cannot be read.
func Verify(ctx context.Context, log Log, m ReadModel, storage Storage, progress func(pos int64)) (ModelReport, error) {
	s := m.Schema()
	rep := ModelReport{Name: s.Name, Rows: map[string]int64{}, Problems: eventstore.Problems{List: []eventstore.Problem{}}}
	tables := storage.Tables(s)
	version, err := tables.Version(ctx)
	if err != nil {
		return rep, err
	}
	if version != 0 && version != s.Version {
		rep.Stale = true
		return rep, nil
	}
	describe := describeRow
	if d, ok := m.(describer); ok {
		describe = d.Describe
	}
	err = tables.Read(ctx, func(r Reader, checkpoint int64) error {
		rep.Checkpoint = checkpoint
		fresh, err := foldLog(ctx, log, m, checkpoint, &rep.Problems, progress)
		if err != nil {
			return err
		}
		for _, table := range s.Tables {
			want := fresh.tables[table.Name]
			err := r.Each(ctx, table.Name, func(got Row) error {
				rep.Rows[table.Name]++
				k := keyOf(table, got)
				w, ok := want.rows[k]
				delete(want.rows, k)
				if !ok || !slices.Equal(fmtRow(w), fmtRow(got)) {
					rep.Add(describe(table.Name, w, got, checkpoint))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("read table %s: %w", table.Name, err)
			}
			missing := make([]Row, 0, len(want.rows))
			for _, row := range want.rows {
				missing = append(missing, row)
			}
			slices.SortFunc(missing, func(a, b Row) int { return compareKeys(table, a, b) })
			for _, row := range missing {
				rep.Add(describe(table.Name, row, nil, checkpoint))
			}
		}
		return nil
	})
	return rep, err
}

// describeRow is the problem of a row of a model without its own words.
func describeRow(table string, want, got Row, checkpoint int64) eventstore.Problem {
	show := func(r Row) string {
		if r == nil {
			return "no row"
		}
		return strings.Join(fmtRow(r), ", ")
	}
	return eventstore.Problem{Kind: ProblemRowDiffers,
		Detail: fmt.Sprintf("a row of %s differs from the fold of the log up to position %d: log says %s, table has %s", table, checkpoint, show(want), show(got))}
}

// fmtRow renders the values of r, a missing value as null.
func fmtRow(r Row) []string {
	out := make([]string, len(r))
	for i, v := range r {
		if s, ok := v.(*string); ok {
			if s == nil {
				out[i] = "null"
				continue
			}
			v = fmt.Sprintf("%q", *s)
		}
		out[i] = fmt.Sprint(v)
	}
	return out
}

// foldLog folds the events of log up to position until into memory with
// m's rebuild folder. An event the folder cannot fold is reported in
// problems and left out.
func foldLog(ctx context.Context, log Log, m ReadModel, until int64, problems *eventstore.Problems, progress func(int64)) (*memRows, error) {
	mem := newMemRows(m.Schema())
	folder := m.Folder(true)
	types := map[string]bool{}
	for _, t := range m.EventTypes() {
		types[t] = true
	}
	for records, err := range logChunks(ctx, log, 0, until, rebuildChunk) {
		if err != nil {
			return nil, err
		}
		pos := records[len(records)-1].Position
		batch, err := decode(records, types)
		var changes []Change
		if err == nil {
			changes, err = folder.Fold(ctx, mem, batch)
		}
		if err != nil { // one at a time, leaving out what cannot be decoded or folded
			changes = nil
			for _, rec := range records {
				one, err := decode([]eventstore.Record{rec}, types)
				kind := ProblemUndecodableEvent
				if err == nil {
					var folded []Change
					if folded, err = folder.Fold(ctx, mem, one); err == nil {
						mem.apply(folded)
						continue
					}
					kind = ProblemEventNotFolded
				}
				problems.Add(eventstore.Problem{Kind: kind, Position: rec.Position, StreamID: rec.StreamID, Detail: err.Error()})
			}
		}
		mem.apply(changes)
		if progress != nil {
			progress(pos)
		}
	}
	return mem, nil
}

// memRows are tables in memory, which a fresh fold writes and reads.
type memRows struct {
	schema Schema
	tables map[string]*memTable
}

type memTable struct {
	table Table
	rows  map[string]Row
	// unique indexes the keys of rows by the value of each Unique column.
	unique map[string]map[any]string
}

func newMemRows(s Schema) *memRows {
	m := &memRows{schema: s, tables: map[string]*memTable{}}
	for _, t := range s.Tables {
		mt := &memTable{table: t, rows: map[string]Row{}, unique: map[string]map[any]string{}}
		for _, c := range t.Unique {
			mt.unique[c] = map[any]string{}
		}
		m.tables[t.Name] = mt
	}
	return m
}

func (m *memRows) Lookup(_ context.Context, table, column string, values []any) ([]Row, error) {
	t, ok := m.tables[table]
	if !ok {
		return nil, fmt.Errorf("%s has no table %q", m.schema.Name, table)
	}
	var out []Row
	for _, v := range values {
		var key string
		if idx, ok := t.unique[column]; ok {
			if key, ok = idx[v]; !ok {
				continue
			}
		} else if t.table.Key == 1 && t.table.Column(column) == 0 {
			key = keyOf(t.table, Row{v})
		} else {
			return nil, fmt.Errorf("table %s: no lookup by %s", table, column)
		}
		if row, ok := t.rows[key]; ok {
			out = append(out, row)
		}
	}
	return out, nil
}

// apply makes changes to the tables.
func (m *memRows) apply(changes []Change) {
	for _, c := range changes {
		t := m.tables[c.Table]
		k := keyOf(t.table, c.Row)
		switch c.Op {
		case Upsert:
			t.rows[k] = c.Row
		case Add:
			if old, ok := t.rows[k]; ok {
				sum := slices.Clone(c.Row)
				for i := t.table.Key; i < len(sum); i++ {
					if n, ok := sum[i].(int64); ok {
						sum[i] = n + old[i].(int64)
					}
				}
				t.rows[k] = sum
			} else {
				t.rows[k] = c.Row
			}
		case Delete:
			delete(t.rows, k)
			continue
		}
		for col, idx := range t.unique {
			idx[c.Row[t.table.Column(col)]] = k
		}
	}
}

// keyOf returns the key of row in table as text.
func keyOf(table Table, row Row) string {
	var b strings.Builder
	for i := range table.Key {
		fmt.Fprintf(&b, "%v\x00", row[i])
	}
	return b.String()
}

// compareKeys orders rows of table by key.
func compareKeys(table Table, a, b Row) int {
	for i := range table.Key {
		var c int
		switch av := a[i].(type) {
		case int64:
			c = cmp.Compare(av, b[i].(int64))
		case string:
			c = cmp.Compare(av, b[i].(string))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
