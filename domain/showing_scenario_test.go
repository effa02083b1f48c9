package domain_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
)

// Scenarios of the rules of the contract's "Showings and holds" the domain
// decides. Seats themselves the log decides with the claims a decision
// hands it: the scenarios check those claims, and TestRefusedClaims... the
// errors the log's refusals become.

var (
	showing, limited = domaintest.ID(10), domaintest.ID(11)
	// startsAt is when the given showings start, a month after domaintest.Now.
	startsAt = "2026-12-24T19:30:00+09:00"
	start    = time.Date(2026, 12, 24, 10, 30, 0, 0, time.UTC)
	four     = int64(4)
	newHold  = domaintest.NewID(1)
)

func scheduledAs(id string, limit *int64) domaintest.Event {
	return domaintest.Event{Stream: id, Data: domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: startsAt, Capacity: 180, PriceKRW: 15000, PerBuyerLimit: limit}}
}

// heldAs is hold id of user on showing s, expiring ttl after domaintest.At.
func heldAs(s, id, user string, quantity int64, ttl time.Duration) domaintest.Event {
	return domaintest.Event{Stream: s, Data: domain.SeatsHeld{HoldID: id, UserID: user, Quantity: quantity, ExpiresAt: domaintest.At.Add(ttl)}}
}

func validSchedule() domain.ScheduleShowing {
	return domain.ScheduleShowing{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: startsAt, Capacity: 180, PriceKRW: 15000, PerBuyerLimit: &four}
}

func TestScheduleScenarios(t *testing.T) {
	t.Parallel()
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name   string
		change func(*domain.ScheduleShowing)
		fails  []string
	}{
		{"a showing with a per-buyer limit", func(*domain.ScheduleShowing) {}, nil},
		{"no per-buyer limit", func(c *domain.ScheduleShowing) { c.PerBuyerLimit = nil }, nil},
		{"starts_at is kept as sent, offset and fraction", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-12-24T19:30:00.50-08:00" }, nil},
		{"starts_at in UTC", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-12-24T10:30:00Z" }, nil},
		{"starts_at a microsecond after now", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-11-25T11:00:00.000001Z" }, nil},
		{"starts_at now", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-11-25T20:00:00+09:00" }, []string{"starts_at"}},
		{"starts_at in the past", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-11-25T10:00:00Z" }, []string{"starts_at"}},
		{"starts_at without an offset", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-12-24T19:30:00" }, []string{"starts_at"}},
		{"starts_at a date", func(c *domain.ScheduleShowing) { c.StartsAt = "2026-12-24" }, []string{"starts_at"}},
		{"starts_at not a time", func(c *domain.ScheduleShowing) { c.StartsAt = "tomorrow" }, []string{"starts_at"}},
		{"starts_at empty", func(c *domain.ScheduleShowing) { c.StartsAt = "" }, []string{"starts_at"}},
		{"theater name of 100 characters", func(c *domain.ScheduleShowing) { c.TheaterName = strings.Repeat("강", 100) }, nil},
		{"theater name of 101 characters", func(c *domain.ScheduleShowing) { c.TheaterName = strings.Repeat("강", 101) }, []string{"theater_name"}},
		{"blank theater name", func(c *domain.ScheduleShowing) { c.TheaterName = " \t" }, []string{"theater_name"}},
		{"movie title of 200 characters", func(c *domain.ScheduleShowing) { c.MovieTitle = strings.Repeat("영", 200) }, nil},
		{"movie title of 201 characters", func(c *domain.ScheduleShowing) { c.MovieTitle = strings.Repeat("영", 201) }, []string{"movie_title"}},
		{"NUL in the movie title", func(c *domain.ScheduleShowing) { c.MovieTitle = "파\x00묘" }, []string{"movie_title"}},
		{"capacity 1", func(c *domain.ScheduleShowing) { c.Capacity = 1 }, nil},
		{"capacity 100000", func(c *domain.ScheduleShowing) { c.Capacity = 100_000 }, nil},
		{"capacity 0", func(c *domain.ScheduleShowing) { c.Capacity = 0 }, []string{"capacity"}},
		{"capacity 100001", func(c *domain.ScheduleShowing) { c.Capacity = 100_001 }, []string{"capacity"}},
		{"price 1000000", func(c *domain.ScheduleShowing) { c.PriceKRW = 1_000_000 }, nil},
		{"price 0", func(c *domain.ScheduleShowing) { c.PriceKRW = 0 }, []string{"price_krw"}},
		{"price 1000001", func(c *domain.ScheduleShowing) { c.PriceKRW = 1_000_001 }, []string{"price_krw"}},
		{"per-buyer limit 1", func(c *domain.ScheduleShowing) { c.PerBuyerLimit = n(1) }, nil},
		{"per-buyer limit 100", func(c *domain.ScheduleShowing) { c.PerBuyerLimit = n(100) }, nil},
		{"per-buyer limit 0", func(c *domain.ScheduleShowing) { c.PerBuyerLimit = n(0) }, []string{"per_buyer_limit"}},
		{"per-buyer limit 101", func(c *domain.ScheduleShowing) { c.PerBuyerLimit = n(101) }, []string{"per_buyer_limit"}},
		{"every field wrong, each named in the contract's order", func(c *domain.ScheduleShowing) {
			*c = domain.ScheduleShowing{StartsAt: "2026-11-25T09:00:00Z", PerBuyerLimit: n(-1)}
		}, domain.ScheduleFields},
	}
	scenarios := map[string]domaintest.Asserter{}
	for _, tc := range tests {
		c := validSchedule()
		tc.change(&c)
		when := domaintest.When(domaintest.Schedule(c))
		if tc.fails != nil {
			scenarios[tc.name] = when.ThenError(domaintest.Invalid(tc.fails...))
			continue
		}
		scenarios[tc.name] = when.Then(domaintest.Event{Stream: domaintest.NewID(1), Data: domain.ShowingScheduled{
			TheaterName: c.TheaterName, MovieTitle: c.MovieTitle, StartsAt: c.StartsAt, Capacity: c.Capacity, PriceKRW: c.PriceKRW, PerBuyerLimit: c.PerBuyerLimit}})
	}
	domaintest.Run(t, scenarios)
}

func TestHoldScenarios(t *testing.T) {
	t.Parallel()
	expires := func(ttl time.Duration) time.Time { return domaintest.Now.Add(ttl) }
	hold := func(user string, quantity, ttl int64) domain.HoldSeats {
		return domain.HoldSeats{UserID: user, Quantity: quantity, TTLSeconds: ttl}
	}
	held := func(s, user string, quantity int64, ttl time.Duration) domaintest.Event {
		return domaintest.Event{Stream: s, Data: domain.SeatsHeld{HoldID: newHold, UserID: user, Quantity: quantity, ExpiresAt: expires(ttl)}}
	}
	taken := func(s, user string, quantity int64, ttl time.Duration, claims ...domain.SeatClaim) domaintest.HoldReport {
		return domaintest.HoldReport{
			Hold:  domain.Hold{ID: newHold, ShowingID: s, UserID: user, Quantity: quantity, ExpiresAt: expires(ttl), Status: domain.HoldStatusActive, HeldAt: domaintest.Now},
			Seats: domain.SeatChanges{Reserve: []domain.HoldReservation{{ID: newHold, ExpiresAt: expires(ttl), Claims: claims}}},
		}
	}
	seats := func(n int64) domain.SeatClaim {
		return domain.SeatClaim{Counter: domain.ShowingCounter(showing), Limit: 180, Amount: n}
	}
	limitedSeats := func(n int64) domain.SeatClaim {
		return domain.SeatClaim{Counter: domain.ShowingCounter(limited), Limit: 180, Amount: n}
	}
	buyer := func(user string, n int64) domain.SeatClaim {
		return domain.SeatClaim{Counter: domain.BuyerCounter(limited, user), Limit: 4, Amount: n}
	}
	given := domaintest.Given(scheduledAs(showing, nil), scheduledAs(limited, &four))
	domaintest.Run(t, map[string]domaintest.Asserter{
		"a hold reserves its seats until now + ttl": given.When(domaintest.Hold(showing, hold("user123", 2, 600))).
			Then(held(showing, "user123", 2, 10*time.Minute)).Reporting(taken(showing, "user123", 2, 10*time.Minute, seats(2))),
		"a hold on a showing with a per-buyer limit reserves the buyer's seats too": given.When(domaintest.Hold(limited, hold("user123", 3, 30))).
			Then(held(limited, "user123", 3, 30*time.Second)).Reporting(taken(limited, "user123", 3, 30*time.Second, limitedSeats(3), buyer("user123", 3))),
		"ttl 3600":    given.When(domaintest.Hold(showing, hold("u", 1, 3600))).Then(held(showing, "u", 1, time.Hour)),
		"quantity 10": given.When(domaintest.Hold(showing, hold("u", 10, 600))).Then(held(showing, "u", 10, 10*time.Minute)),
		"ttl 29":      given.When(domaintest.Hold(showing, hold("u", 1, 29))).ThenError(domaintest.Invalid("ttl_seconds")),
		"ttl 3601":    given.When(domaintest.Hold(showing, hold("u", 1, 3601))).ThenError(domaintest.Invalid("ttl_seconds")),
		"quantity 0":  given.When(domaintest.Hold(showing, hold("u", 0, 600))).ThenError(domaintest.Invalid("quantity")),
		"quantity 11": given.When(domaintest.Hold(showing, hold("u", 11, 600))).ThenError(domaintest.Invalid("quantity")),
		"user id of 101 characters": given.When(domaintest.Hold(showing, hold(strings.Repeat("u", 101), 1, 600))).
			ThenError(domaintest.Invalid("user_id")),
		"every field wrong, each named": given.When(domaintest.Hold(showing, hold(" ", 0, 0))).ThenError(domaintest.Invalid(domain.HoldFields...)),
		"an invalid hold on an unknown showing is invalid first": domaintest.When(domaintest.Hold(domaintest.Unknown, hold("", 1, 600))).
			ThenError(domaintest.Invalid("user_id")),
		"an unknown showing": given.When(domaintest.Hold(domaintest.Unknown, hold("u", 1, 600))).ThenError(domaintest.NotFound),
		"a microsecond before start": given.At(start.Add(-time.Microsecond)).When(domaintest.Hold(showing, hold("u", 1, 30))).
			Then(domaintest.Event{Stream: showing, Data: domain.SeatsHeld{HoldID: newHold, UserID: "u", Quantity: 1, ExpiresAt: start.Add(30*time.Second - time.Microsecond)}}),
		"at starts_at sales are closed": given.At(start).When(domaintest.Hold(showing, hold("u", 1, 600))).
			ThenError(domaintest.Broken(domain.RuleSalesClosed, nil)),
		"after starts_at sales are closed": given.At(start.Add(time.Hour)).When(domaintest.Hold(showing, hold("u", 1, 600))).
			ThenError(domaintest.Broken(domain.RuleSalesClosed, nil)),
	})
}

func TestIssueForShowingScenarios(t *testing.T) {
	t.Parallel()
	const hold, otherHold, usedHold = "0193d000-0000-7000-8000-000000000001", "0193d000-0000-7000-8000-000000000002", "0193d000-0000-7000-8000-000000000003"
	n := func(v int64) *int64 { return &v }
	onShowing := func(s, user string, quantity *int64) domain.IssueShowingTickets {
		return domain.IssueShowingTickets{ShowingID: ptr(s), UserID: user, Quantity: quantity, Memo: ptr("VIP석")}
	}
	onHold := func(h, user string) domain.IssueShowingTickets {
		return domain.IssueShowingTickets{HoldID: ptr(h), UserID: user}
	}
	sold := func(s string, holdID *string, user string, memo *string, count int) []domaintest.Event {
		events := make([]domaintest.Event, count)
		for i := range events {
			events[i] = domaintest.Event{Stream: domaintest.NewID(i + 1), Data: domain.TicketIssued{TheaterName: "CGV 강남", UserID: user, MovieTitle: "파묘",
				PriceKRW: 15000, Memo: memo, ShowingID: ptr(s), HoldID: holdID}}
		}
		return events
	}
	claims := func(s string, user string, quantity int64, limit *int64) domain.SeatChanges {
		c := []domain.SeatClaim{{Counter: domain.ShowingCounter(s), Limit: 180, Amount: quantity}}
		if limit != nil {
			c = append(c, domain.SeatClaim{Counter: domain.BuyerCounter(s, user), Limit: *limit, Amount: quantity})
		}
		return domain.SeatChanges{Claims: c}
	}
	settles := func(h string) domain.SeatChanges { return domain.SeatChanges{Settle: []string{h}} }
	boughtOnUsed := domaintest.Event{Stream: domaintest.ID(20), Data: domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "파묘",
		PriceKRW: 15000, ShowingID: ptr(limited), HoldID: ptr(usedHold)}}
	base := []domaintest.Event{scheduledAs(showing, nil), scheduledAs(limited, &four),
		heldAs(limited, hold, "user123", 2, 2*time.Hour), heldAs(limited, otherHold, "user123", 1, 2*time.Hour), heldAs(limited, usedHold, "user123", 1, 2*time.Hour), boughtOnUsed}
	given := domaintest.Given(base...)
	givenAlso := func(e domain.Event) domaintest.Scenario {
		return domaintest.Given(append(slices.Clone(base), domaintest.Event{Stream: limited, Data: e})...)
	}
	withFields := func(c domain.IssueShowingTickets, theater, movie string, price int64) domain.IssueShowingTickets {
		c.TheaterName, c.MovieTitle, c.PriceKRW = &theater, &movie, &price
		return c
	}
	domaintest.Run(t, map[string]domaintest.Asserter{
		"tickets of a showing carry its theater, movie, price and id, and claim its seats": given.When(domaintest.IssueForShowing(onShowing(showing, "user123", n(3)))).
			Then(sold(showing, nil, "user123", ptr("VIP석"), 3)...).Reporting(claims(showing, "user123", 3, nil)),
		"a showing with a per-buyer limit claims the buyer's seats too": given.When(domaintest.IssueForShowing(onShowing(limited, "u", n(2)))).
			Then(sold(limited, nil, "u", ptr("VIP석"), 2)...).Reporting(claims(limited, "u", 2, &four)),
		"quantity left out is 1": given.When(domaintest.IssueForShowing(onShowing(showing, "u", nil))).
			Then(sold(showing, nil, "u", ptr("VIP석"), 1)...).Reporting(claims(showing, "u", 1, nil)),
		"theater, movie and price sent equal to the showing's": given.When(domaintest.IssueForShowing(withFields(onShowing(showing, "u", n(1)), "CGV 강남", "파묘", 15000))).
			Then(sold(showing, nil, "u", ptr("VIP석"), 1)...),
		"theater, movie and price sent unequal to the showing's, each named": given.When(domaintest.IssueForShowing(withFields(onShowing(showing, "u", n(1)), "CGV", "파묘 ", 15001))).
			ThenError(domaintest.Invalid("theater_name", "movie_title", "price_krw")),
		"an empty theater name sent is not the showing's": given.When(domaintest.IssueForShowing(withFields(onShowing(showing, "u", n(1)), "", "파묘", 15000))).
			ThenError(domaintest.Invalid("theater_name")),
		"an unknown showing_id is invalid": given.When(domaintest.IssueForShowing(onShowing(domaintest.Unknown, "u", n(1)))).
			ThenError(domaintest.Invalid("showing_id")),
		"an unknown showing_id with other bad fields, each named": given.When(domaintest.IssueForShowing(onShowing(domaintest.Unknown, "", n(11)))).
			ThenError(domaintest.Invalid("user_id", "quantity", "showing_id")),
		"showing_id and hold_id together, both named": given.When(domaintest.IssueForShowing(domain.IssueShowingTickets{ShowingID: ptr(showing), HoldID: ptr(hold), UserID: "user123"})).
			ThenError(domaintest.Invalid("showing_id", "hold_id")),
		"neither showing_id nor hold_id": given.When(domaintest.IssueForShowing(domain.IssueShowingTickets{UserID: "u"})).
			ThenError(domaintest.Invalid("showing_id")),
		"quantity 11 and a memo of 1001 characters": given.When(domaintest.IssueForShowing(domain.IssueShowingTickets{ShowingID: ptr(showing), UserID: "u", Quantity: n(11), Memo: ptr(strings.Repeat("m", 1001))})).
			ThenError(domaintest.Invalid("quantity", "memo")),
		"a price out of range sent": given.When(domaintest.IssueForShowing(withFields(onShowing(showing, "u", n(1)), "CGV 강남", "파묘", 0))).
			ThenError(domaintest.Invalid("price_krw")),
		"at starts_at sales are closed": given.At(start).When(domaintest.IssueForShowing(onShowing(showing, "u", n(1)))).
			ThenError(domaintest.Broken(domain.RuleSalesClosed, nil)),
		"a microsecond before starts_at they are open": given.At(start.Add(-time.Microsecond)).When(domaintest.IssueForShowing(onShowing(showing, "u", n(1)))).
			Then(sold(showing, nil, "u", ptr("VIP석"), 1)...),
		"on a hold: its quantity of tickets, carrying showing and hold, settling the hold": given.When(domaintest.IssueForShowing(onHold(hold, "user123"))).
			Then(sold(limited, ptr(hold), "user123", nil, 2)...).Reporting(settles(hold)),
		"on a hold with its quantity and the showing's fields sent": given.When(domaintest.IssueForShowing(withFields(domain.IssueShowingTickets{HoldID: ptr(hold), UserID: "user123", Quantity: n(2)}, "CGV 강남", "파묘", 15000))).
			Then(sold(limited, ptr(hold), "user123", nil, 2)...).Reporting(settles(hold)),
		"on a hold with another quantity": given.When(domaintest.IssueForShowing(domain.IssueShowingTickets{HoldID: ptr(hold), UserID: "user123", Quantity: n(1)})).
			ThenError(domaintest.Invalid("quantity")),
		"on a hold by another user": given.When(domaintest.IssueForShowing(onHold(hold, "someone"))).ThenError(domaintest.Invalid("user_id")),
		"on an unknown hold":        given.When(domaintest.IssueForShowing(onHold(domaintest.Unknown, "user123"))).ThenError(domaintest.Invalid("hold_id")),
		"on a hold past expires_at, not yet expired in the log": given.At(domaintest.At.Add(2 * time.Hour)).When(domaintest.IssueForShowing(onHold(hold, "user123"))).
			ThenError(domaintest.Broken(domain.RuleHoldExpired, nil)),
		"on a hold a microsecond before expires_at": given.At(domaintest.At.Add(2*time.Hour - time.Microsecond)).When(domaintest.IssueForShowing(onHold(hold, "user123"))).
			Then(sold(limited, ptr(hold), "user123", nil, 2)...),
		"on an expired hold": givenAlso(domain.HoldExpired{HoldID: hold}).
			When(domaintest.IssueForShowing(onHold(hold, "user123"))).ThenError(domaintest.Broken(domain.RuleHoldExpired, nil)),
		"on a released hold": givenAlso(domain.HoldReleased{HoldID: hold}).
			When(domaintest.IssueForShowing(onHold(hold, "user123"))).ThenError(domaintest.Broken(domain.RuleHoldReleased, nil)),
		"on a used hold": given.When(domaintest.IssueForShowing(onHold(usedHold, "user123"))).ThenError(domaintest.Broken(domain.RuleHoldUsed, nil)),
		"on a hold after starts_at, sales closed first": given.At(start).When(domaintest.IssueForShowing(onHold(hold, "user123"))).
			ThenError(domaintest.Broken(domain.RuleSalesClosed, nil)),
	})
}

func TestReleaseAndExpiryScenarios(t *testing.T) {
	t.Parallel()
	const hold, released, expired, used = "0193d000-0000-7000-8000-000000000001", "0193d000-0000-7000-8000-000000000002", "0193d000-0000-7000-8000-000000000003", "0193d000-0000-7000-8000-000000000004"
	given := domaintest.Given(scheduledAs(limited, &four),
		heldAs(limited, hold, "u", 2, 2*time.Hour),
		heldAs(limited, released, "u", 1, 2*time.Hour), domaintest.Event{Stream: limited, Data: domain.HoldReleased{HoldID: released}},
		heldAs(limited, expired, "u", 1, time.Minute), domaintest.Event{Stream: limited, Data: domain.HoldExpired{HoldID: expired}},
		heldAs(limited, used, "u", 1, 2*time.Hour), domaintest.Event{Stream: domaintest.ID(20), Data: domain.TicketIssued{UserID: "u", ShowingID: ptr(limited), HoldID: ptr(used)}})
	holdAs := func(id string, quantity int64, ttl time.Duration, status domain.HoldStatus) domain.Hold {
		return domain.Hold{ID: id, ShowingID: limited, UserID: "u", Quantity: quantity, ExpiresAt: domaintest.At.Add(ttl), Status: status, HeldAt: domaintest.At}
	}
	releases := func(id string) domain.SeatChanges { return domain.SeatChanges{Release: []string{id}} }
	domaintest.Run(t, map[string]domaintest.Asserter{
		"releasing an active hold gives its seats back": given.When(domaintest.Release(hold)).
			Then(domaintest.Event{Stream: limited, Data: domain.HoldReleased{HoldID: hold}}).
			Reporting(domaintest.HoldReport{Hold: holdAs(hold, 2, 2*time.Hour, domain.HoldStatusReleased), Seats: releases(hold)}),
		"releasing a released hold appends nothing": given.When(domaintest.Release(released)).
			Then().Reporting(domaintest.HoldReport{Hold: holdAs(released, 1, 2*time.Hour, domain.HoldStatusReleased)}),
		"releasing an expired hold appends nothing": given.When(domaintest.Release(expired)).
			Then().Reporting(domaintest.HoldReport{Hold: holdAs(expired, 1, time.Minute, domain.HoldStatusExpired)}),
		"releasing a hold past expires_at, not yet expired in the log, appends nothing": given.At(domaintest.At.Add(2 * time.Hour)).When(domaintest.Release(hold)).
			Then().Reporting(domaintest.HoldReport{Hold: holdAs(hold, 2, 2*time.Hour, domain.HoldStatusExpired)}),
		"releasing a used hold":     given.When(domaintest.Release(used)).ThenError(domaintest.Broken(domain.RuleHoldUsed, nil)),
		"releasing an unknown hold": given.When(domaintest.Release(domaintest.Unknown)).ThenError(domaintest.NotFound),
		"a hold past expires_at expires": given.At(domaintest.At.Add(2 * time.Hour)).When(domaintest.Expire(hold)).
			Then(domaintest.Event{Stream: limited, Data: domain.HoldExpired{HoldID: hold}}).Reporting(releases(hold)),
		"a hold before expires_at does not":     given.At(domaintest.At.Add(2*time.Hour - time.Microsecond)).When(domaintest.Expire(hold)).Then(),
		"a released hold does not expire":       given.At(domaintest.At.Add(3 * time.Hour)).When(domaintest.Expire(released)).Then(),
		"an expired hold does not expire again": given.At(domaintest.At.Add(3 * time.Hour)).When(domaintest.Expire(expired)).Then(),
		"a used hold does not expire":           given.At(domaintest.At.Add(3 * time.Hour)).When(domaintest.Expire(used)).Then(),
		"an unknown hold does not expire":       given.When(domaintest.Expire(domaintest.Unknown)).Then(),
	})
}

func TestRefundSeatsScenarios(t *testing.T) {
	t.Parallel()
	soldFor := func(ticket, s, user string) domaintest.Event {
		return domaintest.Event{Stream: ticket, Data: domain.TicketIssued{TheaterName: "CGV 강남", UserID: user, MovieTitle: "파묘", PriceKRW: 15000, ShowingID: ptr(s)}}
	}
	a, b, c, d, e := domaintest.ID(21), domaintest.ID(22), domaintest.ID(23), domaintest.ID(24), domaintest.ID(25)
	given := domaintest.Given(scheduledAs(showing, nil), scheduledAs(limited, &four), issued(ticketA),
		soldFor(a, showing, "u"), soldFor(b, showing, "v"), soldFor(c, limited, "u"), soldFor(d, limited, "u"), soldFor(e, limited, "v"), refunded(e, nil))
	refund := func(ids ...string) domaintest.Command {
		return domaintest.RefundSeats(domain.RefundTickets{TicketIDs: ids})
	}
	domaintest.Run(t, map[string]domaintest.Asserter{
		"tickets without a showing give nothing back": given.When(refund(ticketA)).Then(refunded(ticketA, nil)).Reporting(domain.SeatChanges{}),
		"one seat per ticket, summed per counter, in order": given.When(refund(c, a, ticketA, b, d, e)).
			Then(refunded(c, nil), refunded(a, nil), refunded(ticketA, nil), refunded(b, nil), refunded(d, nil)).
			Reporting(domain.SeatChanges{Claims: []domain.SeatClaim{
				{Counter: domain.ShowingCounter(limited), Limit: 180, Amount: -2}, {Counter: domain.BuyerCounter(limited, "u"), Limit: 4, Amount: -2},
				{Counter: domain.ShowingCounter(showing), Limit: 180, Amount: -2},
			}}),
	})
}
