package projectiontest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/projections"
)

// Model returns the registered read model name of log.
func Model(tb testing.TB, log projections.Log, name string) projections.ReadModel {
	tb.Helper()
	for _, m := range projections.Models(log) {
		if m.Schema().Name == name {
			return m
		}
	}
	tb.Fatalf("no read model %s", name)
	return nil
}

// Tables returns the stored tables of the read model name of log.
func Tables(tb testing.TB, log projections.Log, storage projections.Storage, name string) projections.Tables {
	tb.Helper()
	return storage.Tables(Model(tb, log, name).Schema())
}

// Dump returns every row of the tables of m, in key order, as text to
// compare.
func Dump(tb testing.TB, storage projections.Storage, m projections.ReadModel) string {
	tb.Helper()
	var dump []string
	err := storage.Tables(m.Schema()).Read(context.Background(), func(r projections.Reader, _ int64) error {
		for _, t := range m.Schema().Tables {
			err := r.Each(context.Background(), t.Name, func(row projections.Row) error {
				values := make([]string, len(row))
				for i, v := range row {
					if s, ok := v.(*string); ok {
						v = "∅"
						if s != nil {
							v = *s
						}
					}
					values[i] = fmt.Sprint(v)
				}
				dump = append(dump, t.Name+":"+strings.Join(values, "|"))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join(dump, ";")
}

// DumpTickets is Dump of the tickets read model.
func DumpTickets(tb testing.TB, log projections.Log, storage projections.Storage) string {
	tb.Helper()
	return Dump(tb, storage, Model(tb, log, projections.TicketsCheckpoint))
}

// Verify compares the tables of the read model name with a fresh fold of
// log.
func Verify(tb testing.TB, log projections.Log, storage projections.Storage, name string) projections.ModelReport {
	tb.Helper()
	rep, err := projections.Verify(context.Background(), log, Model(tb, log, name), storage, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// damage writes changes to the tables of the read model name (the suite's
// own for "") without moving its checkpoint, as a bug could.
func damage(tb testing.TB, log projections.Log, storage projections.Storage, name string, changes ...projections.Change) {
	tb.Helper()
	tables := storage.Tables(notes{1}.Schema())
	if name != "" {
		tables = Tables(tb, log, storage, name)
	}
	cp, err := tables.Checkpoint(context.Background())
	if err == nil {
		err = tables.Apply(context.Background(), cp, cp, changes)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// ticketRow returns the stored row of ticket id.
func ticketRow(tb testing.TB, log projections.Log, storage projections.Storage, id string) projections.Row {
	tb.Helper()
	rows, err := Tables(tb, log, storage, projections.TicketsCheckpoint).Lookup(context.Background(), "tickets", "id", []any{id})
	if err != nil || len(rows) != 1 {
		tb.Fatalf("row of ticket %s: %v, %v", id, rows, err)
	}
	return rows[0]
}
