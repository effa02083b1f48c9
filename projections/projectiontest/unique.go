package projectiontest

import (
	"context"
	"reflect"
	"testing"

	"github.com/ticketd/ticketd/projections"
)

// seatsTable is a table of the suite's own with a Unique column besides
// its key.
var seatsTable = projections.Table{Name: "test_seats", Key: 1, Unique: []string{"code"},
	Columns: []projections.Column{{Name: "seat", Type: projections.Integer}, {Name: "code", Type: projections.Text},
		{Name: "holder", Type: projections.Text}, {Name: "sold", Type: projections.Integer}}}

// testAWriteKeepsTheStoredRowsUniqueColumns writes rows of a stored key
// with new values in every column: Upsert and Add change the others and
// keep the Unique column, by which Lookup still finds the row.
func testAWriteKeepsTheStoredRowsUniqueColumns(t *testing.T, factory Factory) {
	_, storage := factory(t)
	ctx := context.Background()
	tables := storage.Tables(projections.Schema{Name: "projection:test-seats", Version: 1, Tables: []projections.Table{seatsTable}})
	if _, err := tables.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(prev, pos int64, op projections.Op, row projections.Row) {
		t.Helper()
		if err := tables.Apply(ctx, prev, pos, []projections.Change{{Table: seatsTable.Name, Op: op, Row: row}}); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(column string, value any) []projections.Row {
		t.Helper()
		rows, err := tables.Lookup(ctx, seatsTable.Name, column, []any{value})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	write(0, 1, projections.Upsert, projections.Row{int64(7), "A7", "kim", int64(1)})
	write(1, 2, projections.Upsert, projections.Row{int64(7), "B9", "lee", int64(2)})
	write(2, 3, projections.Add, projections.Row{int64(7), "C3", "park", int64(3)})
	want := projections.Row{int64(7), "A7", "park", int64(5)}
	for _, got := range [][]projections.Row{lookup("seat", int64(7)), lookup("code", "A7")} {
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("stored rows %v, want only %v", got, want)
		}
	}
	for _, code := range []string{"B9", "C3"} {
		if got := lookup("code", code); len(got) != 0 {
			t.Fatalf("Lookup by code %s found %v: a write changed the Unique column", code, got)
		}
	}
}
