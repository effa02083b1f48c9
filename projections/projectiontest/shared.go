package projectiontest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/projections"
)

// The tests of one table written by several projectors (instances of a
// cluster): checkpoint writes are compare-and-set, and a model that does not
// write follows the table.

func testStaleTicketWriterChangesNothing(t *testing.T, factory Factory) {
	s, storage, tickets := open(t, factory)
	ctx := context.Background()
	ids := Issue(t, s, "u", "a", "b")
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := DumpTickets(t, s, storage)
	more := Issue(t, s, "u", "c")
	canceled := ticketRow(t, s, storage, ids[0])
	canceled[6] = string(domain.StatusCanceled)
	issued := projections.Row{int64(3), more[0], "c", "u", "m", int64(1), string(domain.StatusIssued), (*string)(nil), "2026-01-01T00:00:00Z", (*string)(nil), int64(1)}
	table := Tables(t, s, storage, projections.TicketsCheckpoint)
	for _, prev := range []int64{0, 1, 3} { // none, behind and ahead of the stored 2
		err := table.Apply(ctx, prev, 3, []projections.Change{{Table: "tickets", Row: canceled}, {Table: "tickets", Row: issued}})
		if !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Fatalf("write from checkpoint %d over the stored 2: %v, want ErrCheckpointMoved", prev, err)
		}
		if err := table.Reset(ctx, prev); !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Fatalf("reset from checkpoint %d over the stored 2: %v, want ErrCheckpointMoved", prev, err)
		}
		if cp, err := table.Checkpoint(ctx); err != nil || cp != 2 {
			t.Fatalf("checkpoint after a stale write from %d: %d, %v", prev, cp, err)
		}
		if after := DumpTickets(t, s, storage); after != before {
			t.Fatalf("a stale write from %d changed the table:\nbefore %s\nafter  %s", prev, before, after)
		}
	}
	// The current writer still moves it.
	if _, err := tickets.CatchUp(ctx, nil); err != nil || tickets.Position() != 3 {
		t.Fatalf("catch up after the stale writes: %d, %v", tickets.Position(), err)
	}
}

func testStaleSalesWriterChangesNothing(t *testing.T, factory Factory) {
	s, storage, sales := soldAndCaughtUp(t, factory)
	ctx := context.Background()
	before := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	delta := []projections.Change{{Table: "sales_totals", Op: projections.Add, Row: projections.Row{"theater", "CGV 강남", int64(1), int64(0), int64(15000)}}}
	table := Tables(t, s, storage, projections.SalesCheckpoint)
	for _, prev := range []int64{0, 4, 6} { // none, behind and ahead of the stored 5
		if err := table.Apply(ctx, prev, 6, delta); !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Fatalf("add from checkpoint %d over the stored 5: %v, want ErrCheckpointMoved", prev, err)
		}
		if err := table.Reset(ctx, prev); !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Fatalf("reset from checkpoint %d over the stored 5: %v, want ErrCheckpointMoved", prev, err)
		}
	}
	after := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("stale adds changed the sales: before %+v, after %+v", before, after)
	}
	if rep := Verify(t, s, storage, projections.SalesCheckpoint); rep.Count != 0 || rep.Checkpoint != 5 {
		t.Fatalf("verify after stale adds: %+v", rep)
	}
}

// testTwoProjectorsOnOneTableNeverApplyTwice runs two projectors of each
// model on one table, taking turns and racing, as two instances that both
// believe they lead: every event counts once.
func testTwoProjectorsOnOneTableNeverApplyTwice(t *testing.T, factory Factory) {
	s, tables := factory(t)
	ctx := context.Background()
	var tickets [2]*projections.Tickets
	var sales [2]*projections.Sales
	for i := range 2 {
		var err error
		if tickets[i], err = projections.OpenTickets(ctx, s, tables, nil); err != nil {
			t.Fatal(err)
		}
		if sales[i], err = projections.OpenSales(ctx, s, tables, nil); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 6 {
		ids := Issue(t, s, "u", "CGV 강남", "메가박스")
		Refund(t, s, ids[round%2])
		errs := make(chan error, 4)
		for i := range 2 {
			go func() { _, err := tickets[i].CatchUp(ctx, nil); errs <- err }()
			go func() { _, err := sales[i].CatchUp(ctx, nil); errs <- err }()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Each projector delivers the last event again, as a redelivery.
		last := records(t, s)[len(records(t, s))-1]
		for i := range 2 {
			if err := tickets[i].Handle(messageOf(t, last)); err != nil {
				t.Fatal(err)
			}
			if err := sales[i].Handle(messageOf(t, last)); err != nil {
				t.Fatal(err)
			}
		}
	}
	head := s.Head()
	for i := range 2 {
		if tickets[i].Position() != head || sales[i].Position() != head {
			t.Fatalf("projector %d at tickets %d, sales %d; head %d", i, tickets[i].Position(), sales[i].Position(), head)
		}
	}
	if rep := Verify(t, s, tables, projections.TicketsCheckpoint); rep.Count != 0 || rep.Rows["tickets"] != 12 {
		t.Fatalf("tickets table against the log: %+v", rep)
	}
	if rep := Verify(t, s, tables, projections.SalesCheckpoint); rep.Count != 0 || rep.Checkpoint != head {
		t.Fatalf("sales against the log: %+v", rep)
	}
	assertSameQueries(t, tickets[0], tickets[1])
}

// testRefreshFollowsTheTableAsAFreshLoad has one model write the table and
// another only refresh from it: the follower answers every query as a model
// opened afresh on the table does, canceled tickets it had cached included.
func testRefreshFollowsTheTableAsAFreshLoad(t *testing.T, factory Factory) {
	s, tables := factory(t)
	ctx := context.Background()
	leader, err := projections.OpenTickets(ctx, s, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	follower, err := projections.OpenTickets(ctx, s, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	salesLeader, err := projections.OpenSales(ctx, s, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	salesFollower, err := projections.OpenSales(ctx, s, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for round := range 3 {
		ids := Issue(t, s, "u"+string(rune('1'+round)), "CGV 강남", "메가박스", "CGV 강남")
		all = append(all, ids...)
		for _, id := range all {
			if _, err := follower.Get(ctx, id); err != nil { // cache every ticket the follower can see
				if domain.ErrorCode(err) != domain.CodeNotFound {
					t.Fatal(err)
				}
			}
		}
		Refund(t, s, ids[1])
		if round > 0 {
			Refund(t, s, all[len(all)-4]) // the last ticket of the round before, cached as issued
		}
		if _, err := leader.CatchUp(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := salesLeader.CatchUp(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if follower.Position() == leader.Position() {
			t.Fatalf("round %d: the follower moved without a refresh", round)
		}
		if err := follower.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if err := salesFollower.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if follower.Position() != s.Head() || salesFollower.Position() != s.Head() {
			t.Fatalf("round %d: after refresh tickets %d, sales %d; head %d", round, follower.Position(), salesFollower.Position(), s.Head())
		}
		fresh, err := projections.OpenTickets(ctx, s, tables, nil)
		if err != nil {
			t.Fatal(err)
		}
		assertSameQueries(t, follower, fresh)
		for _, id := range all {
			got, err := follower.Get(ctx, id)
			want, _ := fresh.Get(ctx, id)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: follower's ticket %s is %+v (%v), the table's %+v", round, id, got, err, want)
			}
		}
	}
	// Refreshed past the checkpoint it had, the follower writes on from there.
	Issue(t, s, "u9", "a")
	if _, err := follower.CatchUp(ctx, nil); err != nil || follower.Position() != s.Head() {
		t.Fatalf("follower's catch up: %d, %v", follower.Position(), err)
	}
	if rep := Verify(t, s, tables, projections.TicketsCheckpoint); rep.Count != 0 {
		t.Fatalf("tickets table against the log: %+v", rep)
	}
}

// assertSameQueries fails unless a and b answer a set of list queries alike.
func assertSameQueries(tb testing.TB, a, b *projections.Tickets) {
	tb.Helper()
	filters := []projections.Filter{
		{Limit: 1000},
		{Limit: 2, Offset: 1},
		{TheaterName: "CGV 강남", Limit: 1000},
		{Status: domain.StatusCanceled, Limit: 1000},
		{Status: domain.StatusIssued, Limit: 1000},
		{TheaterName: "메가박스", Status: domain.StatusIssued, Limit: 1000},
		{UserID: "u2", Status: domain.StatusCanceled, Limit: 1000},
	}
	for _, f := range filters {
		pa, errA := a.List(context.Background(), f)
		pb, errB := b.List(context.Background(), f)
		if errA != nil || errB != nil || !reflect.DeepEqual(pa, pb) {
			tb.Fatalf("list %+v: %+v (%v) and %+v (%v)", f, pa, errA, pb, errB)
		}
	}
}
