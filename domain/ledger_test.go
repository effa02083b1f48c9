package domain_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
)

// logged is one event of a hand-built log; positions are 1, 2, ... in order.
type logged struct {
	stream string
	at     time.Duration // after domaintest.At
	data   domain.Event
}

// firstViolation folds log into a ledger and returns the first violation,
// checking that the ledger reports nothing before it.
func firstViolation(log []logged) *domain.SeatViolation {
	l := domain.NewSeatLedger()
	for i, e := range log {
		if v := l.Next(int64(i+1), e.stream, e.data, domaintest.At.Add(e.at)); v != nil {
			return v
		}
	}
	return nil
}

func TestSeatLedgerFindsTheFirstPositionThatBreaksTheInvariant(t *testing.T) {
	t.Parallel()
	const show, other = "0193c000-0000-7000-8000-000000000001", "0193c000-0000-7000-8000-000000000002"
	scheduled := func(capacity int64, limit *int64) logged {
		return logged{show, 0, domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2026-12-24T19:30:00+09:00", Capacity: capacity, PriceKRW: 15000, PerBuyerLimit: limit}}
	}
	sold := func(ticket, user string, at time.Duration) logged {
		return logged{ticket, at, domain.TicketIssued{TheaterName: "CGV 강남", UserID: user, MovieTitle: "파묘", PriceKRW: 15000, ShowingID: ptr(show)}}
	}
	soldOnHold := func(ticket, user, hold string, at time.Duration) logged {
		e := sold(ticket, user, at)
		issued := e.data.(domain.TicketIssued)
		issued.HoldID = ptr(hold)
		e.data = issued
		return e
	}
	held := func(hold, user string, quantity int64, at, ttl time.Duration) logged {
		return logged{show, at, domain.SeatsHeld{HoldID: hold, UserID: user, Quantity: quantity, ExpiresAt: domaintest.At.Add(at + ttl)}}
	}
	refunded := func(ticket string, at time.Duration) logged {
		return logged{ticket, at, domain.TicketRefunded{}}
	}
	two := int64(2)
	id := domaintest.ID
	for name, tc := range map[string]struct {
		log  []logged
		want *domain.SeatViolation
	}{
		"a log without showings": {log: []logged{
			{id(1), 0, domaintest.Sold}, {id(2), 0, domaintest.Sold}, refunded(id(1), time.Second),
		}},
		"sold up to capacity": {log: []logged{scheduled(2, nil), sold(id(1), "u", time.Minute), sold(id(2), "v", time.Minute)}},
		"one ticket past capacity": {
			log:  []logged{scheduled(2, nil), sold(id(1), "u", time.Minute), sold(id(2), "v", time.Minute), sold(id(3), "w", time.Minute), sold(id(4), "w", time.Minute)},
			want: &domain.SeatViolation{Position: 4, ShowingID: show, Seats: 3, Limit: 2},
		},
		"a refund returns its seat": {log: []logged{
			scheduled(2, nil), sold(id(1), "u", time.Minute), sold(id(2), "v", time.Minute), refunded(id(1), 2*time.Minute), sold(id(3), "w", 3*time.Minute),
		}},
		"a refund of another ticket returns nothing": {
			log:  []logged{scheduled(1, nil), {id(9), 0, domaintest.Sold}, sold(id(1), "u", time.Minute), refunded(id(9), 2*time.Minute), sold(id(2), "v", 3*time.Minute)},
			want: &domain.SeatViolation{Position: 5, ShowingID: show, Seats: 2, Limit: 1},
		},
		"a live hold takes its seats": {
			log:  []logged{scheduled(3, nil), held("h1", "u", 2, time.Minute, 10*time.Minute), sold(id(1), "v", 2*time.Minute), sold(id(2), "w", 3*time.Minute)},
			want: &domain.SeatViolation{Position: 4, ShowingID: show, Seats: 4, Limit: 3},
		},
		"a hold past capacity": {
			log:  []logged{scheduled(3, nil), sold(id(1), "v", time.Minute), held("h1", "u", 3, 2*time.Minute, time.Minute)},
			want: &domain.SeatViolation{Position: 3, ShowingID: show, Seats: 4, Limit: 3},
		},
		"an expired hold's seats are free from its expires_at on, before its HoldExpired": {log: []logged{
			scheduled(3, nil), held("h1", "u", 2, time.Minute, 10*time.Minute), sold(id(1), "v", 11*time.Minute), sold(id(2), "w", 11*time.Minute),
			{show, 12 * time.Minute, domain.HoldExpired{HoldID: "h1"}},
		}},
		"a released hold's seats are free": {log: []logged{
			scheduled(3, nil), held("h1", "u", 2, time.Minute, 10*time.Minute), {show, 2 * time.Minute, domain.HoldReleased{HoldID: "h1"}},
			sold(id(1), "v", 3*time.Minute), sold(id(2), "w", 3*time.Minute), sold(id(3), "w", 3*time.Minute),
		}},
		"tickets bought on a hold take its seats once": {log: []logged{
			scheduled(3, nil), held("h1", "u", 2, time.Minute, 10*time.Minute), soldOnHold(id(1), "u", "h1", 2*time.Minute), soldOnHold(id(2), "u", "h1", 2*time.Minute),
			sold(id(3), "v", 3*time.Minute),
		}},
		"a hold used, then more tickets than capacity": {
			log: []logged{scheduled(3, nil), held("h1", "u", 2, time.Minute, 10*time.Minute), soldOnHold(id(1), "u", "h1", 2*time.Minute), soldOnHold(id(2), "u", "h1", 2*time.Minute),
				sold(id(3), "v", 3*time.Minute), sold(id(4), "v", 3*time.Minute)},
			want: &domain.SeatViolation{Position: 6, ShowingID: show, Seats: 4, Limit: 3},
		},
		"a buyer up to the limit, others beside": {log: []logged{
			scheduled(10, &two), held("h1", "u", 1, time.Minute, 10*time.Minute), sold(id(1), "u", 2*time.Minute), sold(id(2), "v", 2*time.Minute), sold(id(3), "v", 2*time.Minute),
		}},
		"a buyer's hold past the limit": {
			log:  []logged{scheduled(10, &two), sold(id(1), "u", time.Minute), sold(id(2), "v", time.Minute), held("h1", "u", 2, 2*time.Minute, 10*time.Minute)},
			want: &domain.SeatViolation{Position: 4, ShowingID: show, UserID: "u", Seats: 3, Limit: 2},
		},
		"a buyer's ticket past the limit, counting the buyer's live hold": {
			log:  []logged{scheduled(10, &two), held("h1", "u", 2, time.Minute, 10*time.Minute), sold(id(1), "u", 2*time.Minute)},
			want: &domain.SeatViolation{Position: 3, ShowingID: show, UserID: "u", Seats: 3, Limit: 2},
		},
		"a buyer's refund counts no more": {log: []logged{
			scheduled(10, &two), sold(id(1), "u", time.Minute), sold(id(2), "u", time.Minute), refunded(id(2), 2*time.Minute), sold(id(3), "u", 3*time.Minute),
		}},
		"a buyer's expired hold counts no more": {log: []logged{
			scheduled(10, &two), held("h1", "u", 2, time.Minute, time.Minute), sold(id(1), "u", 2*time.Minute), sold(id(2), "u", 2*time.Minute),
		}},
		"another showing's seats are its own": {
			log: []logged{scheduled(1, nil), {other, 0, domain.ShowingScheduled{TheaterName: "t", MovieTitle: "m", StartsAt: "2026-12-24T19:30:00Z", Capacity: 5, PriceKRW: 1}},
				sold(id(1), "u", time.Minute), {id(2), time.Minute, domain.TicketIssued{UserID: "u", ShowingID: ptr(other)}}, sold(id(3), "u", time.Minute)},
			want: &domain.SeatViolation{Position: 5, ShowingID: show, Seats: 2, Limit: 1},
		},
		"a ticket of a showing never scheduled": {
			log:  []logged{{id(1), 0, domaintest.Sold}, {id(2), time.Minute, domain.TicketIssued{UserID: "u", ShowingID: ptr(other)}}},
			want: &domain.SeatViolation{Position: 2, ShowingID: other, Seats: 1, Limit: 0},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := firstViolation(tc.log)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("first violation %+v, want %+v", got, tc.want)
			}
			if got != nil && got.Error() == "" {
				t.Error("a violation without a message")
			}
		})
	}
}

func TestSeatViolationsSayWhatBroke(t *testing.T) {
	for v, want := range map[domain.SeatViolation]string{
		{Position: 4, ShowingID: "s", Seats: 3, Limit: 2}:              "position 4: 3 seats sold or held of showing s, more than its capacity 2",
		{Position: 4, ShowingID: "s", UserID: "u", Seats: 3, Limit: 2}: `position 4: buyer "u" has 3 seats sold or held of showing s, more than its per-buyer limit 2`,
		{Position: 2, ShowingID: "s", Seats: 1}:                        "position 2: 1 seats sold or held for showing s, which was never scheduled",
	} {
		if got := v.Error(); got != want {
			t.Errorf("%+v says %q, want %q", v, got, want)
		}
	}
}

// TestSeatLedgerCountsWhatTheCountersHold folds sales, a refund and holds
// live, released, bought and expired by event, and reads the counters' state
// they leave: settled seats per showing and per buyer (only with a
// per-buyer limit), and every hold with its claims and status.
func TestSeatLedgerCountsWhatTheCountersHold(t *testing.T) {
	t.Parallel()
	id := domaintest.ID
	limited, open, four := id(1), id(2), int64(4)
	at := domaintest.At
	sale := func(show, user string, hold *string) domain.TicketIssued {
		return domain.TicketIssued{TheaterName: "CGV 강남", UserID: user, MovieTitle: "파묘", PriceKRW: 15000, ShowingID: ptr(show), HoldID: hold}
	}
	held := func(hold, user string, quantity int64) domain.SeatsHeld {
		return domain.SeatsHeld{HoldID: hold, UserID: user, Quantity: quantity, ExpiresAt: at.Add(time.Hour)}
	}
	log := []logged{
		{limited, 0, domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2026-12-24T19:30:00+09:00", Capacity: 10, PriceKRW: 15000, PerBuyerLimit: &four}},
		{open, 0, domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2026-12-24T19:30:00+09:00", Capacity: 5, PriceKRW: 15000}},
		{id(10), 0, sale(limited, "a", nil)}, {id(11), 0, sale(limited, "a", nil)}, {id(12), 0, sale(limited, "b", nil)},
		{id(10), 0, domain.TicketRefunded{}},
		{limited, 0, held(id(20), "c", 2)}, // live
		{limited, 0, held(id(21), "d", 1)}, {limited, 0, domain.HoldReleased{HoldID: id(21)}},
		{limited, 0, held(id(22), "b", 1)}, {id(13), 0, sale(limited, "b", ptr(id(22)))},
		{open, 0, held(id(23), "e", 3)}, {open, 0, domain.HoldExpired{HoldID: id(23)}},
		{id(14), 0, sale(open, "e", nil)},
	}
	l := domain.NewSeatLedger()
	for i, e := range log {
		if v := l.Next(int64(i+1), e.stream, e.data, at); v != nil {
			t.Fatal(v)
		}
	}
	got := l.Counts()
	want := map[string]int64{domain.ShowingCounter(limited): 3, domain.BuyerCounter(limited, "a"): 1, domain.BuyerCounter(limited, "b"): 2,
		domain.ShowingCounter(open): 1}
	if !reflect.DeepEqual(got.Used, want) {
		t.Errorf("used %v, want %v", got.Used, want)
	}
	status := map[string]domain.HoldStatus{}
	for _, h := range got.Holds {
		status[h.ID] = h.Status
		if h.ID == id(20) {
			wantClaims := []domain.SeatClaim{{Counter: domain.ShowingCounter(limited), Limit: 10, Amount: 2}, {Counter: domain.BuyerCounter(limited, "c"), Limit: 4, Amount: 2}}
			if !reflect.DeepEqual(h.Claims, wantClaims) || !h.ExpiresAt.Equal(at.Add(time.Hour)) {
				t.Errorf("live hold %+v, want claims %v until %v", h, wantClaims, at.Add(time.Hour))
			}
		}
	}
	wantStatus := map[string]domain.HoldStatus{id(20): domain.HoldStatusActive, id(21): domain.HoldStatusReleased, id(22): domain.HoldStatusUsed, id(23): domain.HoldStatusExpired}
	if !reflect.DeepEqual(status, wantStatus) {
		t.Errorf("holds %v, want %v", status, wantStatus)
	}
}
