package projectiontest

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// openSales returns a store, its tables and the sales projector over them.
func openSales(tb testing.TB, factory Factory) (eventstore.Store, projections.Storage, *projections.Sales) {
	tb.Helper()
	s, tables := factory(tb)
	sales, err := projections.OpenSales(context.Background(), s, tables, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, tables, sales
}

// sell appends one TicketIssued and returns the ticket's id.
func sell(tb testing.TB, s eventstore.Appender, theater, movie string, price int64) string {
	tb.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: id, Events: []domain.Event{
		domain.TicketIssued{TheaterName: theater, UserID: "u", MovieTitle: movie, PriceKRW: price},
	}}}})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// SellAndRefund sells at CGV 강남 (3 tickets, 1 refunded) and 메가박스 (1).
func SellAndRefund(tb testing.TB, s eventstore.Appender) {
	tb.Helper()
	a := sell(tb, s, "CGV 강남", "영화 A", 15000)
	sell(tb, s, "CGV 강남", "영화 B", 12000)
	sell(tb, s, "메가박스", "영화 A", 9000)
	sell(tb, s, "CGV 강남", "영화 A", 15000)
	Refund(tb, s, a)
}

// soldAndCaughtUp is openSales with sellAndRefund's sales applied.
func soldAndCaughtUp(tb testing.TB, factory Factory) (eventstore.Store, projections.Storage, *projections.Sales) {
	tb.Helper()
	s, tables, sales := openSales(tb, factory)
	SellAndRefund(tb, s)
	if _, err := sales.CatchUp(context.Background(), nil); err != nil {
		tb.Fatal(err)
	}
	return s, tables, sales
}

func salesPage(tb testing.TB, sales *projections.Sales, by projections.Dimension) projections.SalesPage {
	tb.Helper()
	page, err := sales.Page(context.Background(), by, 100, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return page
}

var wantByTheater = []projections.SalesRow{
	{Name: "CGV 강남", Issued: 3, Canceled: 1, RevenueKRW: 27000},
	{Name: "메가박스", Issued: 1, Canceled: 0, RevenueKRW: 9000},
}

var wantByMovie = []projections.SalesRow{
	{Name: "영화 A", Issued: 3, Canceled: 1, RevenueKRW: 24000},
	{Name: "영화 B", Issued: 1, Canceled: 0, RevenueKRW: 12000},
}

func testSalesCountIssuesRefundsAndRevenuePerTheaterAndMovie(t *testing.T, factory Factory) {
	s, _, sales := openSales(t, factory)
	SellAndRefund(t, s)
	// The first events arrive as messages, the rest from the log.
	for _, r := range records(t, s)[:2] {
		if err := sales.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sales.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for by, want := range map[projections.Dimension][]projections.SalesRow{projections.ByTheater: wantByTheater, projections.ByMovie: wantByMovie} {
		page := salesPage(t, sales, by)
		if !reflect.DeepEqual(page.Rows, want) || page.Total != 2 || page.Position != 5 {
			t.Errorf("by %s: %+v, want rows %+v, total 2 at position 5", by, page, want)
		}
	}
	page, err := sales.Page(context.Background(), projections.ByTheater, 1, 1)
	if err != nil || len(page.Rows) != 1 || page.Rows[0].Name != "메가박스" || page.Total != 2 {
		t.Errorf("second page of one: %+v, %v", page, err)
	}
}

func testSalesHandleIgnoresRedeliveryAndKeepsItsOwnCheckpoint(t *testing.T, factory Factory) {
	s, tables, sales := openSales(t, factory)
	SellAndRefund(t, s)
	for _, r := range append(records(t, s), records(t, s)...) {
		if err := sales.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if got := salesPage(t, sales, projections.ByTheater).Rows; !reflect.DeepEqual(got, wantByTheater) {
		t.Fatalf("after redelivery: %+v", got)
	}
	for name, want := range map[string]int64{projections.SalesCheckpoint: 5, projections.TicketsCheckpoint: 0} {
		if pos, err := Tables(t, s, tables, name).Checkpoint(context.Background()); err != nil || pos != want {
			t.Errorf("checkpoint %s = %d, %v; want %d", name, pos, err, want)
		}
	}
	reopened, err := projections.OpenSales(context.Background(), s, tables, nil)
	if err != nil || reopened.Position() != 5 {
		t.Fatalf("reopened at %d, %v", reopened.Position(), err)
	}
}

func testSalesTimelineHasEveryMinuteAndTotals(t *testing.T, factory Factory) {
	s, _, sales := soldAndCaughtUp(t, factory)
	recs := records(t, s)
	now := recs[len(recs)-1].OccurredAt
	tl, err := sales.Timeline(context.Background(), now, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Minutes) != 3 || !tl.Minutes[2].Start.Equal(now.Truncate(time.Minute)) || !tl.Minutes[0].Start.Equal(now.Truncate(time.Minute).Add(-2*time.Minute)) {
		t.Fatalf("minutes: %+v", tl.Minutes)
	}
	var issued, canceled int64
	for _, m := range tl.Minutes {
		issued, canceled = issued+m.Issued, canceled+m.Canceled
	}
	if issued+canceled != 5 || canceled != 1 { // all within the last 3 minutes, unless the test ran across two minute boundaries
		t.Errorf("minutes count %d issued, %d canceled", issued, canceled)
	}
	if want := (projections.SalesRow{Issued: 4, Canceled: 1, RevenueKRW: 36000}); tl.Totals != want || tl.Position != 5 {
		t.Errorf("totals %+v at %d, want %+v at 5", tl.Totals, tl.Position, want)
	}
	later, err := sales.Timeline(context.Background(), now.Add(time.Hour), 2)
	if err != nil || len(later.Minutes) != 2 || later.Minutes[0].Issued != 0 || later.Minutes[1].Issued != 0 {
		t.Errorf("an hour later: %+v, %v", later.Minutes, err)
	}
}

func testRebuildSalesEqualsTheProjectorAndVerifies(t *testing.T, factory Factory) {
	s, tables, sales := soldAndCaughtUp(t, factory)
	live := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	if rep := Verify(t, s, tables, projections.SalesCheckpoint); rep.Count != 0 || rep.Checkpoint != 5 {
		t.Fatalf("verify of the projector's tables: %+v", rep)
	}
	// A bug adds what no event did; a rebuild must restore the tables from the log alone.
	damage(t, s, tables, projections.SalesCheckpoint,
		projections.Change{Table: "sales_totals", Op: projections.Add, Row: projections.Row{"theater", "CGV 강남", int64(99), int64(0), int64(1)}},
		projections.Change{Table: "sales_totals", Op: projections.Add, Row: projections.Row{"movie", "유령", int64(99), int64(0), int64(1)}},
		projections.Change{Table: "sales_minutes", Op: projections.Add, Row: projections.Row{"2000-01-01T00:00", int64(99), int64(0)}})
	rep := Verify(t, s, tables, projections.SalesCheckpoint)
	var details []string
	for _, p := range rep.List {
		if p.Kind != projections.ProblemSalesDiffers {
			t.Errorf("kind %q", p.Kind)
		}
		details = append(details, p.Detail)
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{
		"sales_totals theater 'CGV 강남' differs from the fold of the log up to position 5: log says issued 3, canceled 1, revenue_krw 27000, table has issued 102, canceled 1, revenue_krw 27001",
		"sales_totals movie '유령' differs from the fold of the log up to position 5: log says no row, table has issued 99, canceled 0, revenue_krw 1",
		"sales_minutes 2000-01-01T00:00 differs from the fold of the log up to position 5: log says no row, table has issued 99, canceled 0",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem says %q:\n%s", want, all)
		}
	}
	if rep.Count != 3 {
		t.Fatalf("verify of damaged tables: %+v", rep)
	}
	if head, err := projections.Rebuild(context.Background(), s, tables, nil); err != nil || head != 5 {
		t.Fatalf("rebuild: %d, %v", head, err)
	}
	rebuilt := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Fatalf("rebuilt %+v, projector built %+v", rebuilt, live)
	}
	if rep := Verify(t, s, tables, projections.SalesCheckpoint); rep.Count != 0 {
		t.Fatalf("verify after rebuild: %+v", rep)
	}
}

func testSalesCatchUpFarBehindRefoldsTheLog(t *testing.T, factory Factory) {
	s, tables, sales := openSales(t, factory)
	req := eventstore.AppendRequest{}
	for i := range 2500 {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: uuid.Must(uuid.NewV7()).String(), Events: []domain.Event{
			domain.TicketIssued{TheaterName: []string{"CGV 강남", "메가박스"}[i%2], UserID: "u", MovieTitle: "영화", PriceKRW: 1000},
		}})
	}
	if _, err := s.Append(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	Refund(t, s, req.Streams[0].StreamID)
	n, err := sales.CatchUp(context.Background(), nil)
	if err != nil || n != 2501 || sales.Position() != 2501 {
		t.Fatalf("catch up: %d at %d, %v", n, sales.Position(), err)
	}
	want := []projections.SalesRow{{Name: "메가박스", Issued: 1250, RevenueKRW: 1_250_000}, {Name: "CGV 강남", Issued: 1250, Canceled: 1, RevenueKRW: 1_249_000}}
	if got := salesPage(t, sales, projections.ByTheater).Rows; !reflect.DeepEqual(got, want) {
		t.Fatalf("by theater: %+v, want %+v", got, want)
	}
	if pos, err := Tables(t, s, tables, projections.SalesCheckpoint).Checkpoint(context.Background()); err != nil || pos != 2501 {
		t.Fatalf("checkpoint %d, %v", pos, err)
	}
}

// streamReads is a projections.Log that counts the streams it reads from
// the store.
type streamReads struct {
	eventstore.Store
	n atomic.Int64
}

func (r *streamReads) ReadStreams(ctx context.Context, ids []string) ([]eventstore.Record, error) {
	r.n.Add(int64(len(ids)))
	return r.Store.ReadStreams(ctx, ids)
}

// folded returns ticket id as its stream in s folds.
func folded(tb testing.TB, s eventstore.Store, id string) domain.Ticket {
	tb.Helper()
	recs, err := s.ReadStream(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	ticket, err := eventstore.Fold(recs)
	if err != nil {
		tb.Fatal(err)
	}
	return ticket
}

func testSalesRefundOfARememberedTicketReadsNoStream(t *testing.T, factory Factory) {
	s, tables := factory(t)
	log := &streamReads{Store: s}
	sales, err := projections.OpenSales(context.Background(), log, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	remembered := sell(t, s, "CGV 강남", "영화 A", 15000)
	unknown := sell(t, s, "메가박스", "영화 B", 9000)
	canceledFirst := sell(t, s, "CGV 강남", "영화 B", 12000)
	sell(t, s, "CGV 강남", "영화 A", 15000)
	Refund(t, s, canceledFirst)
	if _, err := sales.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sales.Remember(folded(t, s, remembered)) // what its refund's decision read
	reads := log.n.Load()
	Refund(t, s, remembered)
	Refund(t, s, unknown)
	for _, r := range records(t, s)[5:] { // one message each, as the relay delivers them
		if err := sales.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.n.Load() - reads; got != 1 {
		t.Errorf("the two refunds read %d streams; want 1 (the ticket not remembered)", got)
	}
	want := []projections.SalesRow{
		{Name: "CGV 강남", Issued: 3, Canceled: 2, RevenueKRW: 15000},
		{Name: "메가박스", Issued: 1, Canceled: 1, RevenueKRW: 0},
	}
	if got := salesPage(t, sales, projections.ByTheater).Rows; !reflect.DeepEqual(got, want) {
		t.Errorf("by theater %+v, want %+v", got, want)
	}
	if rep := Verify(t, s, tables, projections.SalesCheckpoint); rep.Count != 0 || rep.Checkpoint != 7 {
		t.Fatalf("verify against a fresh fold: %+v", rep)
	}
}
