package domain_test

import (
	"strings"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
)

// Scenarios of the rules of ../shared/docs/api-contract.md the domain
// decides: given events, when a command, then the events it decides (and
// what it reports) or the error naming every offending field.

var (
	ticketA, ticketB, ticketC = domaintest.TicketA, domaintest.TicketB, domaintest.TicketC
	unknown                   = domaintest.Unknown
	ptr, issued, refunded     = domaintest.Text, domaintest.Issued, domaintest.Refunded
	lists                     = domaintest.Lists
)

func validIssue() domain.IssueTickets {
	return domain.IssueTickets{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Quantity: 2, Memo: ptr("VIP석")}
}

// issuedAs returns the events an accepted issue of c decides: Quantity
// tickets under new ids, each event carrying the fields exactly as sent.
func issuedAs(c domain.IssueTickets) []domaintest.Event {
	events := make([]domaintest.Event, c.Quantity)
	for i := range events {
		events[i] = domaintest.Event{Stream: domaintest.NewID(i + 1), Data: domain.TicketIssued{
			TheaterName: c.TheaterName, UserID: c.UserID, MovieTitle: c.MovieTitle, PriceKRW: c.PriceKRW, Memo: c.Memo,
		}}
	}
	return events
}

func TestIssueScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*domain.IssueTickets)
		fails  []string // the fields an invalid command names, in order
	}{
		{"quantity 2 issues 2 tickets under distinct ids in order", func(*domain.IssueTickets) {}, nil},
		{"theater name of 100 characters, counted in characters", func(c *domain.IssueTickets) { c.TheaterName = strings.Repeat("강", 100) }, nil},
		{"theater name of 101 characters", func(c *domain.IssueTickets) { c.TheaterName = strings.Repeat("강", 101) }, []string{"theater_name"}},
		{"empty theater name", func(c *domain.IssueTickets) { c.TheaterName = "" }, []string{"theater_name"}},
		{"blank theater name", func(c *domain.IssueTickets) { c.TheaterName = " \t\u3000" }, []string{"theater_name"}},
		{"texts are kept as sent, spaces and all", func(c *domain.IssueTickets) { c.TheaterName, c.MovieTitle = "  CGV  ", " 파묘" }, nil},
		{"user id of 100 characters", func(c *domain.IssueTickets) { c.UserID = strings.Repeat("u", 100) }, nil},
		{"user id of 101 characters", func(c *domain.IssueTickets) { c.UserID = strings.Repeat("u", 101) }, []string{"user_id"}},
		{"blank user id", func(c *domain.IssueTickets) { c.UserID = "   " }, []string{"user_id"}},
		{"movie title of 200 characters", func(c *domain.IssueTickets) { c.MovieTitle = strings.Repeat("영", 200) }, nil},
		{"movie title of 201 characters", func(c *domain.IssueTickets) { c.MovieTitle = strings.Repeat("영", 201) }, []string{"movie_title"}},
		{"empty movie title", func(c *domain.IssueTickets) { c.MovieTitle = "" }, []string{"movie_title"}},
		{"price 1", func(c *domain.IssueTickets) { c.PriceKRW = 1 }, nil},
		{"price 1000000", func(c *domain.IssueTickets) { c.PriceKRW = 1_000_000 }, nil},
		{"price 0", func(c *domain.IssueTickets) { c.PriceKRW = 0 }, []string{"price_krw"}},
		{"price 1000001", func(c *domain.IssueTickets) { c.PriceKRW = 1_000_001 }, []string{"price_krw"}},
		{"negative price", func(c *domain.IssueTickets) { c.PriceKRW = -5 }, []string{"price_krw"}},
		{"quantity 1 (the default) issues one ticket", func(c *domain.IssueTickets) { c.Quantity = domain.DefaultQuantity }, nil},
		{"quantity 10 issues ten tickets", func(c *domain.IssueTickets) { c.Quantity = 10 }, nil},
		{"quantity 0", func(c *domain.IssueTickets) { c.Quantity = 0 }, []string{"quantity"}},
		{"quantity 11", func(c *domain.IssueTickets) { c.Quantity = 11 }, []string{"quantity"}},
		{"no memo is recorded as null", func(c *domain.IssueTickets) { c.Memo = nil }, nil},
		{"an empty memo is kept empty, not null", func(c *domain.IssueTickets) { c.Memo = ptr("") }, nil},
		{"memo of 1000 characters", func(c *domain.IssueTickets) { c.Memo = ptr(strings.Repeat("메", 1000)) }, nil},
		{"memo of 1001 characters", func(c *domain.IssueTickets) { c.Memo = ptr(strings.Repeat("메", 1001)) }, []string{"memo"}},
		{"NUL in every text", func(c *domain.IssueTickets) {
			c.TheaterName, c.UserID, c.MovieTitle, c.Memo = "CGV\x00", "\x00u", "a\x00b", ptr("\x00")
		}, []string{"theater_name", "user_id", "movie_title", "memo"}},
		{"every field wrong, every field named", func(c *domain.IssueTickets) {
			*c = domain.IssueTickets{PriceKRW: 0, Quantity: 99, Memo: ptr(strings.Repeat("x", 1001))}
		}, []string{"theater_name", "user_id", "movie_title", "price_krw", "quantity", "memo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validIssue()
			tt.change(&c)
			if tt.fails != nil {
				domaintest.When(domaintest.Issue(c)).ThenError(domaintest.Invalid(tt.fails...)).Assert(t)
				return
			}
			domaintest.When(domaintest.Issue(c)).Then(issuedAs(c)...).Assert(t)
		})
	}
}

func TestIssueRecordsAbsentMemoAsNull(t *testing.T) {
	t.Parallel()
	c := validIssue()
	c.Quantity, c.Memo = 1, nil
	domaintest.When(domaintest.Issue(c)).Then(domaintest.Event{Stream: domaintest.NewID(1), Data: domain.TicketIssued{
		TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Memo: nil,
	}}).Assert(t)
}

func TestRefundScenarios(t *testing.T) {
	t.Parallel()
	thousand := make([]string, domain.MaxRefundIDs)
	for i := range thousand {
		thousand[i] = domaintest.ID(1000 + i)
	}
	reason := ptr("고객 요청")
	domaintest.Run(t, map[string]domaintest.Asserter{
		"an issued ticket is refunded with the reason": domaintest.Given(issued(ticketA)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}, Reason: reason})).
			Then(refunded(ticketA, reason)).Reporting(lists([]string{ticketA}, nil, nil)),
		"no reason is recorded as null": domaintest.Given(issued(ticketA)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}})).
			Then(refunded(ticketA, nil)).Reporting(lists([]string{ticketA}, nil, nil)),
		"a refunded ticket is already canceled and changes no more": domaintest.Given(issued(ticketA), refunded(ticketA, nil)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}, Reason: reason})).
			Then().Reporting(lists(nil, []string{ticketA}, nil)),
		"an unknown id is not found, and the request still succeeds": domaintest.Given(issued(ticketA)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{unknown}})).
			Then().Reporting(lists(nil, nil, []string{unknown})),
		"malformed ids are not found": domaintest.When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{"not-a-uuid", "a\x00", " "}})).
			Then().Reporting(lists(nil, nil, []string{"not-a-uuid", "a\x00", " "})),
		"every distinct id in exactly one list, in request order, a repeated id once": domaintest.Given(issued(ticketA), issued(ticketB), issued(ticketC), refunded(ticketC, nil)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{unknown, ticketB, ticketC, ticketA, ticketB, unknown, ticketC}, Reason: reason})).
			Then(refunded(ticketB, reason), refunded(ticketA, reason)).
			Reporting(lists([]string{ticketB, ticketA}, []string{ticketC}, []string{unknown})),
		"1000 ids are allowed":     domaintest.When(domaintest.Refund(domain.RefundTickets{TicketIDs: thousand})).Then().Reporting(lists(nil, nil, thousand)),
		"1001 ids are not":         domaintest.When(domaintest.Refund(domain.RefundTickets{TicketIDs: append(thousand, unknown)})).ThenError(domaintest.Invalid("ticket_ids")),
		"no ids":                   domaintest.When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{}})).ThenError(domaintest.Invalid("ticket_ids")),
		"absent ids":               domaintest.When(domaintest.Refund(domain.RefundTickets{})).ThenError(domaintest.Invalid("ticket_ids")),
		"an empty id among others": domaintest.Given(issued(ticketA)).When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA, ""}})).ThenError(domaintest.Invalid("ticket_ids")),
		"reason of 500 characters": domaintest.Given(issued(ticketA)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}, Reason: ptr(strings.Repeat("고", 500))})).
			Then(refunded(ticketA, ptr(strings.Repeat("고", 500)))),
		"reason of 501 characters": domaintest.Given(issued(ticketA)).
			When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}, Reason: ptr(strings.Repeat("고", 501))})).
			ThenError(domaintest.Invalid("reason")),
		"NUL in the reason":                domaintest.Given(issued(ticketA)).When(domaintest.Refund(domain.RefundTickets{TicketIDs: []string{ticketA}, Reason: ptr("r\x00")})).ThenError(domaintest.Invalid("reason")),
		"ids and reason wrong, both named": domaintest.When(domaintest.Refund(domain.RefundTickets{Reason: ptr(strings.Repeat("r", 501))})).ThenError(domaintest.Invalid("ticket_ids", "reason")),
	})
}
