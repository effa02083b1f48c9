// Package projectiontest is the one suite every projections.Storage
// implementation passes, with ticketd's read models and one of its own
// (notes.go): each engine's test calls Run with a Factory.
package projectiontest

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// Factory returns a store on a new, empty database and the read models'
// storage in it, all closed when tb ends.
type Factory func(tb testing.TB) (eventstore.Store, projections.Storage)

// Run runs the projector suite (every read model, and one of its own) over the tables factory
// opens, each test in parallel on a database of its own.
func Run(t *testing.T, factory Factory) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"CatchUpBuildsTheTableAndCheckpoint", testCatchUpBuildsTheTableAndCheckpoint},
		{"HandleIgnoresRedeliveryAndFillsGaps", testHandleIgnoresRedeliveryAndFillsGaps},
		{"HandleAppliesBatchesFromTheirMessagesAndReadsTheLogOnlyForGaps", testHandleAppliesBatchesFromTheirMessagesAndReadsTheLogOnlyForGaps},
		{"WaitForReturnsOnceApplied", testWaitForReturnsOnceApplied},
		{"ListFiltersPagesAndCounts", testListFiltersPagesAndCounts},
		{"RebuildReproducesTheTable", testRebuildReproducesTheTable},
		{"RebuildOfManyChunksVerifiesAndReportsProgress", testRebuildOfManyChunksVerifiesAndReportsProgress},
		{"RebuildStopsAtAnEventItCannotFold", testRebuildStopsAtAnEventItCannotFold},
		{"GetNeverServesAStaleTicketAfterARefund", testGetNeverServesAStaleTicketAfterARefund},
		{"ListMergesCachedAndReadTicketsAndNeverServesAStaleOne", testListMergesCachedAndReadTicketsAndNeverServesAStaleOne},
		{"SalesCountIssuesRefundsAndRevenuePerTheaterAndMovie", testSalesCountIssuesRefundsAndRevenuePerTheaterAndMovie},
		{"SalesHandleIgnoresRedeliveryAndKeepsItsOwnCheckpoint", testSalesHandleIgnoresRedeliveryAndKeepsItsOwnCheckpoint},
		{"SalesTimelineHasEveryMinuteAndTotals", testSalesTimelineHasEveryMinuteAndTotals},
		{"RebuildSalesEqualsTheProjectorAndVerifies", testRebuildSalesEqualsTheProjectorAndVerifies},
		{"SalesCatchUpFarBehindRefoldsTheLog", testSalesCatchUpFarBehindRefoldsTheLog},
		{"SalesRefundOfARememberedTicketReadsNoStream", testSalesRefundOfARememberedTicketReadsNoStream},
		{"TicketsRefundOfARememberedTicketLooksUpNoRow", testTicketsRefundOfARememberedTicketLooksUpNoRow},
		{"StaleTicketWriterChangesNothing", testStaleTicketWriterChangesNothing},
		{"StaleSalesWriterChangesNothing", testStaleSalesWriterChangesNothing},
		{"TwoProjectorsOnOneTableNeverApplyTwice", testTwoProjectorsOnOneTableNeverApplyTwice},
		{"RefreshFollowsTheTableAsAFreshLoad", testRefreshFollowsTheTableAsAFreshLoad},
		{"AModelOfItsOwnNeedsNoEngineCode", testAModelOfItsOwnNeedsNoEngineCode},
		{"AWriteKeepsTheStoredRowsUniqueColumns", testAWriteKeepsTheStoredRowsUniqueColumns},
		{"ABumpedVersionIsRebuiltBeforeItServes", testABumpedVersionIsRebuiltBeforeItServes},
		{"ShowingsFoldSalesHoldsAndRefunds", testShowingsFoldSalesHoldsAndRefunds},
		{"VerifyReportsTheFirstPositionOverCapacity", testVerifyReportsTheFirstPositionOverCapacity},
		{"ALogWithoutShowingsVerifiesAsBefore", testALogWithoutShowingsVerifiesAsBefore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, factory)
		})
	}
}

// open returns a store, the storage and the tickets model over them.
func open(tb testing.TB, factory Factory) (eventstore.Store, projections.Storage, *projections.Tickets) {
	tb.Helper()
	s, storage := factory(tb)
	tickets, err := projections.OpenTickets(context.Background(), s, storage, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, storage, tickets
}

func memo(s string) *string { return &s }

// Issue appends one TicketIssued per theater and returns the new ids.
func Issue(tb testing.TB, s eventstore.Appender, user string, theaters ...string) []string {
	tb.Helper()
	req := eventstore.AppendRequest{}
	var ids []string
	for _, th := range theaters {
		id := uuid.Must(uuid.NewV7()).String()
		ids = append(ids, id)
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{
			domain.TicketIssued{TheaterName: th, UserID: user, MovieTitle: "영화 제목", PriceKRW: 15000, Memo: memo("VIP석")},
		}})
	}
	if _, err := s.Append(context.Background(), req); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// Refund appends the TicketRefunded of ticket id at version 1.
func Refund(tb testing.TB, s eventstore.Appender, id string) {
	tb.Helper()
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
		{StreamID: id, ExpectedVersion: 1, Events: []domain.Event{domain.TicketRefunded{Reason: memo("고객 요청")}}},
	}})
	if err != nil {
		tb.Fatal(err)
	}
}

func records(tb testing.TB, s eventstore.Reader) []eventstore.Record {
	tb.Helper()
	recs, err := s.ReadAll(context.Background(), 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// messageOf returns the batch message of records, as the relay publishes.
func messageOf(tb testing.TB, records ...eventstore.Record) *message.Message {
	tb.Helper()
	msg, err := eventstore.NewBatchMessage(records)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

func testCatchUpBuildsTheTableAndCheckpoint(t *testing.T, factory Factory) {
	s, storage, tickets := open(t, factory)
	ctx := context.Background()
	ids := Issue(t, s, "u1", "CGV 강남", "CGV 용산")
	Refund(t, s, ids[0])
	n, err := tickets.CatchUp(ctx, nil)
	if err != nil || n != 3 || tickets.Position() != 3 {
		t.Fatalf("catch up: n=%d pos=%d err=%v", n, tickets.Position(), err)
	}
	got, err := tickets.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.StatusCanceled || got.CanceledAt == nil || *got.Memo != "VIP석" || got.Version != 2 {
		t.Fatalf("ticket = %+v", got)
	}
	reopened, err := projections.OpenTickets(ctx, s, storage, nil)
	if err != nil || reopened.Position() != 3 {
		t.Fatalf("checkpoint not stored: %d, %v", reopened.Position(), err)
	}
	if _, err := tickets.Get(ctx, "nope"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("missing ticket: %v", err)
	}
}

func testHandleIgnoresRedeliveryAndFillsGaps(t *testing.T, factory Factory) {
	s, _, tickets := open(t, factory)
	ids := Issue(t, s, "u1", "a", "b", "c")
	recs := records(t, s)
	// Position 3 arrives first: 1 and 2 are filled from the log.
	if err := tickets.Handle(messageOf(t, recs[2])); err != nil {
		t.Fatal(err)
	}
	if tickets.Position() != 3 {
		t.Fatalf("position = %d after gap fill", tickets.Position())
	}
	// Redelivery of anything at or below the checkpoint is a no-op.
	for _, r := range recs {
		if err := tickets.Handle(messageOf(t, r)); err != nil {
			t.Fatalf("redelivery of %d: %v", r.Position, err)
		}
	}
	page, err := tickets.List(context.Background(), projections.Filter{Limit: 10})
	if err != nil || page.Total != 3 || len(page.Tickets) != 3 || page.Tickets[2].ID != ids[2] {
		t.Fatalf("page = %+v, %v", page, err)
	}
}

// countingLog is a store's log that counts the events read through ReadAll.
type countingLog struct {
	eventstore.Store
	read atomic.Int64
}

func (l *countingLog) ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	records, err := l.Store.ReadAll(ctx, after, limit, types...)
	l.read.Add(int64(len(records)))
	return records, err
}

func testHandleAppliesBatchesFromTheirMessagesAndReadsTheLogOnlyForGaps(t *testing.T, factory Factory) {
	s, storage := factory(t)
	ctx := context.Background()
	log := &countingLog{Store: s}
	tickets, err := projections.OpenTickets(ctx, log, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := Issue(t, s, "u1", "a", "b", "c", "d")
	Refund(t, s, ids[0])
	recs := records(t, s)
	if err := tickets.Handle(messageOf(t, recs[0], recs[1])); err != nil {
		t.Fatal(err)
	}
	if tickets.Position() != 2 || log.read.Load() != 0 {
		t.Fatalf("after a message of 1 and 2: position %d, %d events read from the log; want 2 and none", tickets.Position(), log.read.Load())
	}
	// A message that starts after the next event: 3 is read from the log.
	if err := tickets.Handle(messageOf(t, recs[3])); err != nil {
		t.Fatal(err)
	}
	if tickets.Position() != 4 || log.read.Load() != 1 {
		t.Fatalf("after a message of 4 alone: position %d, %d events read from the log; want 4 and 1", tickets.Position(), log.read.Load())
	}
	// A message that cannot be decoded: its events are read from the log
	// up to the position it names.
	broken := messageOf(t, recs[4])
	broken.Payload = []byte("{")
	broken.SetContext(ctx) // as a pub/sub that passes no context on delivers it
	if err := tickets.Handle(broken); err != nil {
		t.Fatal(err)
	}
	if tickets.Position() != 5 || log.read.Load() != 2 {
		t.Fatalf("after an undecodable message of 5: position %d, %d events read from the log; want 5 and 2", tickets.Position(), log.read.Load())
	}
	if err := tickets.Handle(messageOf(t, recs...)); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	got, err := tickets.Get(ctx, ids[0])
	if err != nil || got.Status != domain.StatusCanceled || tickets.Position() != 5 || log.read.Load() != 2 {
		t.Fatalf("ticket = %+v, %v at position %d after %d reads", got, err, tickets.Position(), log.read.Load())
	}
}

func testWaitForReturnsOnceApplied(t *testing.T, factory Factory) {
	s, _, tickets := open(t, factory)
	Issue(t, s, "u", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tickets.WaitFor(ctx, 1); err == nil {
		t.Fatal("WaitFor returned before the event was applied")
	}
	done := make(chan error, 1)
	go func() { done <- tickets.WaitFor(context.Background(), 1) }()
	if _, err := tickets.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return after catch-up")
	}
}

func testListFiltersPagesAndCounts(t *testing.T, factory Factory) {
	s, _, tickets := open(t, factory)
	ctx := context.Background()
	a := Issue(t, s, "alice", "CGV 강남", "CGV 강남", "메가박스")
	b := Issue(t, s, "bob", "CGV 강남")
	Refund(t, s, a[1])
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		f     projections.Filter
		total int64
		ids   []string
	}{
		{"all", projections.Filter{Limit: 100}, 4, []string{a[0], a[1], a[2], b[0]}},
		{"theater", projections.Filter{TheaterName: "CGV 강남", Limit: 100}, 3, []string{a[0], a[1], b[0]}},
		{"user and status", projections.Filter{UserID: "alice", Status: domain.StatusIssued, Limit: 100}, 2, []string{a[0], a[2]}},
		{"canceled", projections.Filter{Status: domain.StatusCanceled, Limit: 100}, 1, []string{a[1]}},
		{"movie", projections.Filter{MovieTitle: "영화 제목", Limit: 2, Offset: 1}, 4, []string{a[1], a[2]}},
		{"past the end", projections.Filter{Limit: 10, Offset: 10}, 4, nil},
		{"no match", projections.Filter{TheaterName: "CGV", Limit: 10}, 0, nil},
		{"sql metacharacters", projections.Filter{TheaterName: "' OR 1=1 --", Limit: 10}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := tickets.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tk := range page.Tickets {
				ids = append(ids, tk.ID)
			}
			if page.Total != tt.total || len(ids) != len(tt.ids) {
				t.Fatalf("total=%d ids=%v, want total=%d ids=%v", page.Total, ids, tt.total, tt.ids)
			}
			for i := range ids {
				if ids[i] != tt.ids[i] {
					t.Fatalf("ids = %v, want %v", ids, tt.ids)
				}
			}
		})
	}
}

func testRebuildReproducesTheTable(t *testing.T, factory Factory) {
	s, storage, tickets := open(t, factory)
	ctx := context.Background()
	ids := Issue(t, s, "u", "a", "b", "c")
	Refund(t, s, ids[1])
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := DumpTickets(t, s, storage)
	// Damage the table; a rebuild must restore it from the log alone.
	row := ticketRow(t, s, storage, ids[0])
	row[6], row[10] = string(domain.StatusCanceled), int64(9)
	damage(t, s, storage, projections.TicketsCheckpoint, projections.Change{Table: "tickets", Op: projections.Upsert, Row: row})
	if DumpTickets(t, s, storage) == before {
		t.Fatal("damaging the table changed nothing")
	}
	if rep := Verify(t, s, storage, projections.TicketsCheckpoint); rep.Count != 1 || rep.List[0].Kind != projections.ProblemTicketDiffers {
		t.Fatalf("verify of the damaged table = %+v", rep)
	}
	n, err := projections.Rebuild(ctx, s, storage, nil)
	if cp, _ := Tables(t, s, storage, projections.TicketsCheckpoint).Checkpoint(ctx); err != nil || n != 4 || cp != 4 {
		t.Fatalf("rebuild: n=%d checkpoint=%d err=%v", n, cp, err)
	}
	if after := DumpTickets(t, s, storage); after != before {
		t.Fatalf("rebuilt table differs:\nbefore %s\nafter  %s", before, after)
	}
	if rep := Verify(t, s, storage, projections.TicketsCheckpoint); rep.Count != 0 || rep.Rows["tickets"] != 3 {
		t.Fatalf("verify after rebuild = %+v", rep)
	}
}

func optional(s *string) string {
	if s == nil {
		return "∅"
	}
	return *s
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return "∅"
	}
	return domain.FormatTime(*t)
}

func testGetNeverServesAStaleTicketAfterARefund(t *testing.T, factory Factory) {
	s, _, tickets := open(t, factory)
	ctx := context.Background()
	ids := Issue(t, s, "u", "a", "b", "c", "d")
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	refundWhileReading(t, s, tickets, ids, func() error {
		for _, id := range ids {
			if _, err := tickets.Get(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}, func(_ int, id string) {
		if got, err := tickets.Get(ctx, id); err != nil || got.Status != domain.StatusCanceled {
			t.Fatalf("right after its refund was applied, ticket %s is %+v (%v)", id, got, err)
		}
	})
}

// refundWhileReading refunds each of ids in turn and applies it, while read
// runs in a loop beside (keeping the tickets hot in the caches), and calls
// check after each applied refund with the ticket's index in ids.
func refundWhileReading(t *testing.T, s eventstore.Appender, tickets *projections.Tickets, ids []string, read func() error, check func(i int, id string)) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := read(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	for i, id := range ids {
		Refund(t, s, id)
		if _, err := tickets.CatchUp(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		check(i, id)
	}
}

func testListMergesCachedAndReadTicketsAndNeverServesAStaleOne(t *testing.T, factory Factory) {
	s, _, tickets := open(t, factory)
	ctx := context.Background()
	ids := Issue(t, s, "u", "a", "b", "c", "d", "e")
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	list := func(f projections.Filter) []domain.Ticket {
		t.Helper()
		page, err := tickets.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return page.Tickets
	}
	// The middle of the list is cached first, so the full page merges
	// cached tickets between ones read from the table.
	list(projections.Filter{Limit: 2, Offset: 1})
	list(projections.Filter{Limit: 1, Offset: 4})
	all := list(projections.Filter{Limit: 100})
	if len(all) != len(ids) {
		t.Fatalf("listed %d tickets, want %d", len(all), len(ids))
	}
	for i, tk := range all {
		got, err := tickets.Get(ctx, ids[i])
		if err != nil || !reflect.DeepEqual(tk, got) {
			t.Fatalf("ticket %d of the list is %+v, Get gives %+v (%v)", i, tk, got, err)
		}
	}
	refundWhileReading(t, s, tickets, ids, func() error {
		_, err := tickets.List(ctx, projections.Filter{Limit: 100})
		return err
	}, func(i int, id string) {
		page := list(projections.Filter{Limit: 100})
		if page[i].ID != id || page[i].Status != domain.StatusCanceled {
			t.Fatalf("right after its refund was applied, ticket %s is listed as %+v", id, page[i])
		}
		if canceled := list(projections.Filter{Status: domain.StatusCanceled, Limit: 100}); len(canceled) != i+1 || canceled[i].Status != domain.StatusCanceled {
			t.Fatalf("after %d refunds, status=canceled lists %+v", i+1, canceled)
		}
	})
}
