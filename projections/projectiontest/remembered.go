package projectiontest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// rowLookups is a projections.Storage whose tables count the rows their
// Lookups ask for.
type rowLookups struct {
	projections.Storage
	n atomic.Int64
}

func (s *rowLookups) Tables(schema projections.Schema) projections.Tables {
	return &countedTables{Tables: s.Storage.Tables(schema), n: &s.n}
}

type countedTables struct {
	projections.Tables
	n *atomic.Int64
}

func (t *countedTables) Lookup(ctx context.Context, table, column string, values []any) ([]projections.Row, error) {
	t.n.Add(int64(len(values)))
	return t.Tables.Lookup(ctx, table, column, values)
}

// issuePosition returns the position of the TicketIssued of ticket id.
func issuePosition(tb testing.TB, s eventstore.Reader, id string) int64 {
	tb.Helper()
	recs, err := s.ReadStream(context.Background(), id)
	if err != nil || len(recs) == 0 {
		tb.Fatalf("stream of %s: %d records, %v", id, len(recs), err)
	}
	return recs[0].Position
}

// testTicketsRefundOfARememberedTicketLooksUpNoRow tells the tickets model
// one ticket as a refund's decision read it, and another with a version
// its refund does not follow: applying the refunds looks up only the
// second's row, and the table equals a fresh fold of the log.
func testTicketsRefundOfARememberedTicketLooksUpNoRow(t *testing.T, factory Factory) {
	s, base := factory(t)
	storage := &rowLookups{Storage: base}
	tickets, err := projections.OpenTickets(context.Background(), s, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := Issue(t, s, "user123", "CGV 강남", "메가박스", "롯데시네마")
	if _, err := tickets.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	remembered, stale := folded(t, s, ids[0]), folded(t, s, ids[1])
	tickets.Remember(remembered, issuePosition(t, s, ids[0]))
	stale.Version = 5 // not the state its refund follows
	tickets.Remember(stale, issuePosition(t, s, ids[1]))
	before := storage.n.Load()
	Refund(t, s, ids[0])
	Refund(t, s, ids[1])
	for _, r := range records(t, s)[3:] { // one message each, as the relay delivers them
		if err := tickets.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if got := storage.n.Load() - before; got != 1 {
		t.Errorf("the two refunds looked up %d rows; want 1 (the ticket remembered at another version)", got)
	}
	if rep := Verify(t, s, base, projections.TicketsCheckpoint); rep.Count != 0 || rep.Checkpoint != 5 {
		t.Fatalf("verify against a fresh fold: %+v", rep)
	}
}
