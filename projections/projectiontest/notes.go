package projectiontest

import (
	"context"
	"errors"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/projections"
)

// notes is a read model of the suite's own, not shipped, which no engine
// knows: one row per ticket not refunded, counting its events and keeping
// its memo; a refund deletes the row. Its version is the test's to bump.
type notes struct{ version int }

const notesTable = "test_notes"

func (n notes) Schema() projections.Schema {
	return projections.Schema{Name: "projection:test-notes", Version: n.version, Tables: []projections.Table{{
		Name: notesTable, Key: 1, Indexes: [][]string{{"kind", "stream_id"}},
		Columns: []projections.Column{{Name: "stream_id", Type: projections.Text}, {Name: "events", Type: projections.Integer},
			{Name: "kind", Type: projections.Text}, {Name: "memo", Type: projections.NullableText}},
	}}}
}

func (notes) EventTypes() []string {
	return []string{domain.TypeTicketIssued, domain.TypeTicketRefunded}
}

func (n notes) Folder(bool) projections.Folder { return n }

// Fold adds an issue's row and deletes it at its refund; a version 2 of
// the model stores its kind in capitals.
func (n notes) Fold(_ context.Context, _ projections.Rows, records []projections.Event) ([]projections.Change, error) {
	byStream := map[string]int{}
	var changes []projections.Change
	for _, rec := range records {
		change := projections.Change{Table: notesTable, Op: projections.Delete, Row: projections.Row{rec.StreamID, int64(0), "", (*string)(nil)}}
		if issued, ok := rec.Value.(domain.TicketIssued); ok {
			kind := "issued"
			if n.version > 1 {
				kind = "ISSUED"
			}
			change = projections.Change{Table: notesTable, Op: projections.Add, Row: projections.Row{rec.StreamID, int64(1), kind, issued.Memo}}
		}
		if i, ok := byStream[rec.StreamID]; ok {
			changes[i] = change
			continue
		}
		byStream[rec.StreamID] = len(changes)
		changes = append(changes, change)
	}
	return changes, nil
}

// notesRows returns the stored rows of the notes model, by stream.
func notesRows(tb testing.TB, storage projections.Storage, n notes) map[string]projections.Row {
	tb.Helper()
	rows := map[string]projections.Row{}
	err := storage.Tables(n.Schema()).Read(context.Background(), func(r projections.Reader, _ int64) error {
		return r.Each(context.Background(), notesTable, func(row projections.Row) error {
			rows[row[0].(string)] = row
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

func testAModelOfItsOwnNeedsNoEngineCode(t *testing.T, factory Factory) {
	s, storage := factory(t)
	ctx := context.Background()
	p, err := projections.OpenProjector(ctx, notes{1}, storage, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := Issue(t, s, "u", "a", "b", "c")
	Refund(t, s, ids[1])
	kept := Issue(t, s, "u", "d")
	Refund(t, s, kept[0]) // issued and refunded in one batch below
	if _, err := p.CatchUp(ctx, nil); err != nil || p.Position() != 6 {
		t.Fatalf("catch up: %d, %v", p.Position(), err)
	}
	rows := notesRows(t, storage, notes{1})
	if len(rows) != 2 || rows[ids[0]][1] != int64(1) || rows[ids[0]][2] != "issued" || *rows[ids[2]][3].(*string) != "VIP석" {
		t.Fatalf("rows %v", rows)
	}
	if rep, err := projections.Verify(ctx, s, notes{1}, storage, nil); err != nil || rep.Count != 0 || rep.Rows[notesTable] != 2 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	// A row no event made, and one an event made with another count.
	damage(t, s, storage, "", projections.Change{Table: notesTable, Op: projections.Upsert, Row: projections.Row{"ghost", int64(1), "issued", (*string)(nil)}},
		projections.Change{Table: notesTable, Op: projections.Add, Row: projections.Row{ids[0], int64(1), "issued", (*string)(nil)}})
	rep, err := projections.Verify(ctx, s, notes{1}, storage, nil)
	if err != nil || rep.Count != 2 || rep.List[0].Kind != projections.ProblemRowDiffers {
		t.Fatalf("verify of damaged rows: %+v, %v", rep, err)
	}
	// Redelivered events change nothing; a stale writer is refused.
	for _, rec := range records(t, s) {
		if err := p.Handle(messageOf(t, rec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := storage.Tables(notes{1}.Schema()).Apply(ctx, 5, 7, nil); !errors.Is(err, projections.ErrCheckpointMoved) {
		t.Fatalf("stale apply: %v", err)
	}
}

func testABumpedVersionIsRebuiltBeforeItServes(t *testing.T, factory Factory) {
	s, storage := factory(t)
	ctx := context.Background()
	v1, err := projections.OpenProjector(ctx, notes{1}, storage, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Rebuilding() {
		t.Fatal("a new model on an empty log is rebuilding")
	}
	ids := Issue(t, s, "u", "a", "b")
	if _, err := v1.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The same version opens as it is.
	again, err := projections.OpenProjector(ctx, notes{1}, storage, s, nil)
	if err != nil || again.Rebuilding() || again.Position() != 2 || len(notesRows(t, storage, notes{1})) != 2 {
		t.Fatalf("reopened: rebuilding %v at %d, %v", again.Rebuilding(), again.Position(), err)
	}
	// A bumped version discards the old rows and folds the log again
	// before it serves.
	Refund(t, s, ids[0])
	v2, err := projections.OpenProjector(ctx, notes{2}, storage, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Rebuilding() || v2.Position() != 0 || len(notesRows(t, storage, notes{2})) != 0 {
		t.Fatalf("bumped: rebuilding %v at %d, rows %v", v2.Rebuilding(), v2.Position(), notesRows(t, storage, notes{2}))
	}
	if version, err := storage.Tables(notes{1}.Schema()).Version(ctx); err != nil || version != 2 {
		t.Fatalf("stored version %d, %v", version, err)
	}
	if rep, err := projections.Verify(ctx, s, notes{1}, storage, nil); err != nil || !rep.Stale {
		t.Fatalf("version 1 verified against version 2's tables: %+v, %v", rep, err)
	}
	if _, err := v2.CatchUp(ctx, nil); err != nil || v2.Rebuilding() {
		t.Fatalf("rebuild: rebuilding %v, %v", v2.Rebuilding(), err)
	}
	rows := notesRows(t, storage, notes{2})
	if len(rows) != 1 || rows[ids[1]][2] != "ISSUED" {
		t.Fatalf("rebuilt rows %v", rows)
	}
	if rep, err := projections.Verify(ctx, s, notes{2}, storage, nil); err != nil || rep.Count != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
