package projectiontest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// appendTo appends events to stream at version, failing tb on an error.
func appendTo(tb testing.TB, s eventstore.Appender, stream string, version int64, events ...domain.Event) {
	tb.Helper()
	if _, err := s.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
		{StreamID: stream, ExpectedVersion: version, Events: events}}}); err != nil {
		tb.Fatal(err)
	}
}

// sellFor appends a TicketIssued for showing (on hold, when set) and
// returns the ticket's id.
func sellFor(tb testing.TB, s eventstore.Appender, showing, user string, hold *string) string {
	tb.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	appendTo(tb, s, id, 0, domain.TicketIssued{TheaterName: "CGV 강남", UserID: user, MovieTitle: "파묘", PriceKRW: 15000, ShowingID: &showing, HoldID: hold})
	return id
}

// openAll opens every read model and catches it up with the log.
func openAll(tb testing.TB, s eventstore.Store, storage projections.Storage) *projections.Set {
	tb.Helper()
	set, err := projections.Open(context.Background(), s, storage, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range set.Projectors() {
		if _, err := p.CatchUp(context.Background(), nil); err != nil {
			tb.Fatal(err)
		}
	}
	return set
}

func testShowingsFoldSalesHoldsAndRefunds(t *testing.T, factory Factory) {
	s, storage := factory(t)
	ctx := context.Background()
	showing := uuid.Must(uuid.NewV7()).String()
	limit := int64(4)
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	appendTo(t, s, showing, 0, domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: start.Format(time.RFC3339), Capacity: 10, PriceKRW: 15000, PerBuyerLimit: &limit})
	bought, live, ended := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	appendTo(t, s, showing, 1,
		domain.SeatsHeld{HoldID: bought, UserID: "a", Quantity: 1, ExpiresAt: expires},
		domain.SeatsHeld{HoldID: live, UserID: "b", Quantity: 2, ExpiresAt: expires},
		domain.SeatsHeld{HoldID: ended, UserID: "c", Quantity: 3, ExpiresAt: expires},
		domain.HoldReleased{HoldID: ended})
	sellFor(t, s, showing, "a", &bought)
	refunded := sellFor(t, s, showing, "d", nil)
	sellFor(t, s, showing, "d", nil)
	Refund(t, s, refunded)
	Issue(t, s, "e", "CGV 강남") // a ticket without a showing

	set := openAll(t, s, storage)
	v, err := set.Showings.Showing(ctx, showing)
	if err != nil {
		t.Fatal(err)
	}
	if v.Sold != 2 || v.Held != 2 || v.Available != 6 || v.Status != projections.ShowingOnSale || *v.PerBuyerLimit != 4 {
		t.Errorf("showing %+v", v)
	}
	for id, want := range map[string]domain.HoldStatus{bought: domain.HoldStatusUsed, live: domain.HoldStatusActive, ended: domain.HoldStatusReleased} {
		if h, err := set.Showings.Hold(ctx, id); err != nil || h.Status != want || h.ShowingID != showing {
			t.Errorf("hold %s: %+v, %v; want %s", id, h, err, want)
		}
	}
	set.Showings.SetClock(func() time.Time { return expires })
	if v, _ := set.Showings.Showing(ctx, showing); v.Held != 0 || v.Available != 8 {
		t.Errorf("showing at its holds' expiry %+v", v)
	}
	set.Showings.SetClock(func() time.Time { return start })
	page, err := set.Showings.List(ctx, projections.ShowingFilter{Status: projections.ShowingClosed, Limit: 10})
	if err != nil || page.Total != 1 || page.Showings[0].ID != showing {
		t.Errorf("closed showings %+v, %v", page, err)
	}
	rep, err := projections.Audit(ctx, s.(projections.AuditLog), storage, nil)
	if err != nil || !rep.OK {
		t.Fatalf("audit %+v, %v", rep, err)
	}
}

func testVerifyReportsTheFirstPositionOverCapacity(t *testing.T, factory Factory) {
	s, storage := factory(t)
	showing := uuid.Must(uuid.NewV7()).String()
	appendTo(t, s, showing, 0, domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2030-12-24T19:30:00+09:00", Capacity: 1, PriceKRW: 15000})
	sellFor(t, s, showing, "a", nil)
	sellFor(t, s, showing, "b", nil) // the log's counters refused no claim: none was made
	sellFor(t, s, showing, "c", nil)
	openAll(t, s, storage)
	rep, err := projections.Audit(context.Background(), s.(projections.AuditLog), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBreak == nil || rep.FirstBreak.Kind != projections.ProblemSeatsExceeded || rep.FirstBreak.Position != 3 || rep.Count != 1 {
		t.Fatalf("audit %+v, first break %+v; want %s at 3", rep, rep.FirstBreak, projections.ProblemSeatsExceeded)
	}
}

func testALogWithoutShowingsVerifiesAsBefore(t *testing.T, factory Factory) {
	s, storage := factory(t)
	ids := Issue(t, s, "alice", "CGV 강남", "메가박스")
	Refund(t, s, ids[0])
	openAll(t, s, storage)
	var phases []string
	rep, err := projections.Audit(context.Background(), s.(projections.AuditLog), storage, func(phase string, _, _ int64) {
		if phase == "seats" {
			phases = append(phases, phase)
		}
	})
	if err != nil || !rep.OK || rep.Events != 3 {
		t.Fatalf("audit %+v, %v", rep, err)
	}
	if len(phases) > 0 {
		t.Errorf("a log without showings was folded for seats")
	}
}
