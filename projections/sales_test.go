package projections_test

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

func mustOpenSales(tb testing.TB) (*eventstore.Store, *projections.Sales) {
	tb.Helper()
	s := mustOpenStore(tb)
	sales, err := projections.OpenSales(context.Background(), s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, sales
}

// sell appends one TicketIssued and returns the ticket's id.
func sell(tb testing.TB, s *eventstore.Store, theater, movie string, price int64) string {
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

// sellAndRefund sells at CGV 강남 (3 tickets, 1 refunded) and 메가박스 (1).
func sellAndRefund(tb testing.TB, s *eventstore.Store) {
	tb.Helper()
	a := sell(tb, s, "CGV 강남", "영화 A", 15000)
	sell(tb, s, "CGV 강남", "영화 B", 12000)
	sell(tb, s, "메가박스", "영화 A", 9000)
	sell(tb, s, "CGV 강남", "영화 A", 15000)
	refund(tb, s, a)
}

// soldAndCaughtUp is mustOpenSales with sellAndRefund's sales applied.
func soldAndCaughtUp(tb testing.TB) (*eventstore.Store, *projections.Sales) {
	tb.Helper()
	s, sales := mustOpenSales(tb)
	sellAndRefund(tb, s)
	if _, err := sales.CatchUp(context.Background(), nil); err != nil {
		tb.Fatal(err)
	}
	return s, sales
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

func TestSalesCountIssuesRefundsAndRevenuePerTheaterAndMovie(t *testing.T) {
	t.Parallel()
	s, sales := mustOpenSales(t)
	sellAndRefund(t, s)
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

func TestSalesHandleIgnoresRedeliveryAndKeepsItsOwnCheckpoint(t *testing.T) {
	t.Parallel()
	s, sales := mustOpenSales(t)
	sellAndRefund(t, s)
	for _, r := range append(records(t, s), records(t, s)...) {
		if err := sales.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if got := salesPage(t, sales, projections.ByTheater).Rows; !reflect.DeepEqual(got, wantByTheater) {
		t.Fatalf("after redelivery: %+v", got)
	}
	for name, want := range map[string]int64{projections.SalesCheckpoint: 5, projections.TicketsCheckpoint: 0} {
		if pos, err := s.Checkpoint(context.Background(), name); err != nil || pos != want {
			t.Errorf("checkpoint %s = %d, %v; want %d", name, pos, err, want)
		}
	}
	reopened, err := projections.OpenSales(context.Background(), s, nil)
	if err != nil || reopened.Position() != 5 {
		t.Fatalf("reopened at %d, %v", reopened.Position(), err)
	}
}

func TestSalesTimelineHasEveryMinuteAndTotals(t *testing.T) {
	t.Parallel()
	s, sales := soldAndCaughtUp(t)
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

func TestRebuildSalesEqualsTheProjectorAndVerifies(t *testing.T) {
	t.Parallel()
	s, sales := soldAndCaughtUp(t)
	live := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	if rep, err := projections.VerifySales(context.Background(), s.ReadDB()); err != nil || rep.Count != 0 || rep.Checkpoint != 5 {
		t.Fatalf("verify of the projector's tables: %+v, %v", rep, err)
	}
	corrupt(t, s, `UPDATE sales_totals SET issued = 99`, `DELETE FROM sales_minutes`)
	if head, err := projections.RebuildSales(context.Background(), s); err != nil || head != 5 {
		t.Fatalf("rebuild: %d, %v", head, err)
	}
	rebuilt := [2]projections.SalesPage{salesPage(t, sales, projections.ByTheater), salesPage(t, sales, projections.ByMovie)}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Fatalf("rebuilt %+v, projector built %+v", rebuilt, live)
	}
	if rep, err := projections.VerifySales(context.Background(), s.ReadDB()); err != nil || rep.Count != 0 {
		t.Fatalf("verify after rebuild: %+v, %v", rep, err)
	}
}

func TestVerifySalesNamesEveryRowThatDiffersFromTheLog(t *testing.T) {
	t.Parallel()
	s, _ := soldAndCaughtUp(t)
	corrupt(t, s,
		`UPDATE sales_totals SET revenue_krw = revenue_krw + 1 WHERE dimension = 'theater' AND name = '메가박스'`,
		`DELETE FROM sales_totals WHERE dimension = 'movie' AND name = '영화 B'`,
		`INSERT INTO sales_totals VALUES ('movie', '유령', 1, 0, 1000)`,
		`UPDATE sales_minutes SET canceled = canceled + 1`,
	)
	rep, err := projections.VerifySales(context.Background(), s.ReadDB())
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, p := range rep.List {
		if p.Kind != projections.ProblemSalesDiffers {
			t.Errorf("kind %q", p.Kind)
		}
		details = append(details, p.Detail)
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{"theater '메가박스'", "movie '영화 B'", "table has no row", "movie '유령'", "log says no row", "sales_minutes "} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem mentions %q:\n%s", want, all)
		}
	}
	if rep.Count < 4 {
		t.Errorf("%d problems, want at least 4:\n%s", rep.Count, all)
	}
}

// corrupt runs statements against the read model's tables, as a bug or an
// operator could.
func corrupt(tb testing.TB, s *eventstore.Store, stmts ...string) {
	tb.Helper()
	err := s.UpdateDerived(context.Background(), func(tx *sql.Tx) error {
		for _, stmt := range stmts {
			if _, err := tx.Exec(stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestSalesCatchUpFarBehindRefoldsTheLog(t *testing.T) {
	t.Parallel()
	s, sales := mustOpenSales(t)
	req := eventstore.AppendRequest{}
	for i := range 2500 {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: uuid.Must(uuid.NewV7()).String(), Events: []domain.Event{
			domain.TicketIssued{TheaterName: []string{"CGV 강남", "메가박스"}[i%2], UserID: "u", MovieTitle: "영화", PriceKRW: 1000},
		}})
	}
	if _, err := s.Append(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	refund(t, s, req.Streams[0].StreamID)
	n, err := sales.CatchUp(context.Background(), nil)
	if err != nil || n != 2501 || sales.Position() != 2501 {
		t.Fatalf("catch up: %d at %d, %v", n, sales.Position(), err)
	}
	want := []projections.SalesRow{{Name: "메가박스", Issued: 1250, RevenueKRW: 1_250_000}, {Name: "CGV 강남", Issued: 1250, Canceled: 1, RevenueKRW: 1_249_000}}
	if got := salesPage(t, sales, projections.ByTheater).Rows; !reflect.DeepEqual(got, want) {
		t.Fatalf("by theater: %+v, want %+v", got, want)
	}
	if pos, err := s.Checkpoint(context.Background(), projections.SalesCheckpoint); err != nil || pos != 2501 {
		t.Fatalf("checkpoint %d, %v", pos, err)
	}
}
