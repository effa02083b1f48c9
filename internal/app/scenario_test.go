package app_test

import (
	"strings"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/app/apptest"
)

// Scenarios of the command handlers against real stores (apptest.Engines):
// given events and earlier commands, when a command, then the events it
// appended and what it reported, its replay, or its error. Each also
// checks that an executed command's answer is stored under its key exactly
// as answered, that its events carry its request's ids, and that a failed
// one appended and stored nothing.

var reason = domaintest.Text("고객 요청")

func issueOf(quantity int64) domain.IssueTickets {
	return domain.IssueTickets{TheaterName: domaintest.Sold.TheaterName, UserID: domaintest.Sold.UserID, MovieTitle: domaintest.Sold.MovieTitle, PriceKRW: domaintest.Sold.PriceKRW, Quantity: quantity, Memo: domaintest.Sold.Memo}
}

func refund(ids ...string) domain.RefundTickets {
	return domain.RefundTickets{TicketIDs: ids, Reason: reason}
}

func key(k string) app.Request {
	return app.Request{IdempotencyKey: k, RequestID: "req-" + k, CorrelationID: "corr-" + k}
}

var plain = app.Request{RequestID: "req", CorrelationID: "corr"}

func TestIssueScenarios(t *testing.T) {
	t.Parallel()
	domaintest.Run(t, map[string]domaintest.Asserter{
		"issue appends one TicketIssued per ticket, each a new stream, ids in issue order": apptest.When(apptest.Issue(plain, issueOf(3))).
			Then(domaintest.Issued(domaintest.NewID(1)), domaintest.Issued(domaintest.NewID(2)), domaintest.Issued(domaintest.NewID(3))).
			Reporting(app.Issued{TicketIDs: []string{domaintest.NewID(1), domaintest.NewID(2), domaintest.NewID(3)}, Ticket: domaintest.Sold}),
		"issue with a key stores its answer with its events":                apptest.When(apptest.Issue(key("k"), issueOf(1))).Then(domaintest.Issued(domaintest.NewID(1))),
		"an invalid issue appends nothing and stores nothing under its key": apptest.When(apptest.Issue(key("k"), issueOf(11))).ThenError(domaintest.Invalid("quantity")),
		"every offending field is named": apptest.When(apptest.Issue(plain, domain.IssueTickets{Memo: domaintest.Text("\x00")})).
			ThenError(domaintest.Invalid("theater_name", "user_id", "movie_title", "price_krw", "quantity", "memo")),
	})
}

func TestRefundScenarios(t *testing.T) {
	t.Parallel()
	domaintest.Run(t, map[string]domaintest.Asserter{
		"an domaintest.Issued ticket is refunded": apptest.Given(domaintest.Issued(domaintest.TicketA)).
			When(apptest.Refund(plain, refund(domaintest.TicketA))).
			Then(domaintest.Refunded(domaintest.TicketA, reason)).Reporting(domaintest.Lists([]string{domaintest.TicketA}, nil, nil)),
		"no reason is recorded as null": apptest.Given(domaintest.Issued(domaintest.TicketA)).
			When(apptest.Refund(plain, domain.RefundTickets{TicketIDs: []string{domaintest.TicketA}})).
			Then(domaintest.Refunded(domaintest.TicketA, nil)).Reporting(domaintest.Lists([]string{domaintest.TicketA}, nil, nil)),
		"a canceled ticket is already canceled; nothing is appended": apptest.Given(domaintest.Issued(domaintest.TicketA), domaintest.Refunded(domaintest.TicketA, nil)).
			When(apptest.Refund(plain, refund(domaintest.TicketA))).
			Then().Reporting(domaintest.Lists(nil, []string{domaintest.TicketA}, nil)),
		"unknown and malformed ids are not found": apptest.Given(domaintest.Issued(domaintest.TicketA)).
			When(apptest.Refund(plain, refund(domaintest.Unknown, "not-a-uuid", "a\x00"))).
			Then().Reporting(domaintest.Lists(nil, nil, []string{domaintest.Unknown, "not-a-uuid", "a\x00"})),
		"every distinct id in one list, in request order, a repeated id once": apptest.Given(domaintest.Issued(domaintest.TicketA), domaintest.Issued(domaintest.TicketB), domaintest.Issued(domaintest.TicketC), domaintest.Refunded(domaintest.TicketC, nil)).
			When(apptest.Refund(plain, refund(domaintest.Unknown, domaintest.TicketB, domaintest.TicketC, domaintest.TicketA, domaintest.TicketB, domaintest.Unknown, domaintest.TicketC))).
			Then(domaintest.Refunded(domaintest.TicketB, reason), domaintest.Refunded(domaintest.TicketA, reason)).
			Reporting(domaintest.Lists([]string{domaintest.TicketB, domaintest.TicketA}, []string{domaintest.TicketC}, []string{domaintest.Unknown})),
		"a ticket domaintest.Refunded meanwhile (a lost concurrency race) is decided again and reported already canceled": apptest.Given(domaintest.Issued(domaintest.TicketA), domaintest.Issued(domaintest.TicketB)).
			When(apptest.Refund(plain, refund(domaintest.TicketA, domaintest.TicketB))).
			Meanwhile(apptest.Refund(plain, refund(domaintest.TicketA))).
			Then(domaintest.Refunded(domaintest.TicketB, reason)).Reporting(domaintest.Lists([]string{domaintest.TicketB}, []string{domaintest.TicketA}, nil)),
		"a refund with nothing to change stores its answer under its key": apptest.When(apptest.Refund(key("k"), refund(domaintest.Unknown))).Then().Reporting(domaintest.Lists(nil, nil, []string{domaintest.Unknown})),
		"an invalid refund appends nothing and stores nothing under its key": apptest.Given(domaintest.Issued(domaintest.TicketA)).
			When(apptest.Refund(key("k"), domain.RefundTickets{TicketIDs: []string{domaintest.TicketA, ""}, Reason: domaintest.Text(strings.Repeat("r", 501))})).
			ThenError(domaintest.Invalid("ticket_ids", "reason")),
	})
}

func TestIdempotencyScenarios(t *testing.T) {
	t.Parallel()
	domaintest.Run(t, map[string]domaintest.Asserter{
		"the same issue with the same key replays the stored answer and appends nothing": apptest.Given().AndCommands(apptest.Issue(key("k"), issueOf(2))).
			When(apptest.Issue(key("k"), issueOf(2))).ThenReplayed(),
		"the same refund with the same key replays, also once its ticket changed": apptest.Given(domaintest.Issued(domaintest.TicketA)).AndCommands(apptest.Refund(key("k"), refund(domaintest.TicketA))).
			When(apptest.Refund(key("k"), refund(domaintest.TicketA))).ThenReplayed(),
		"a refund that changed nothing replays too": apptest.Given().AndCommands(apptest.Refund(key("k"), refund(domaintest.Unknown))).
			When(apptest.Refund(key("k"), refund(domaintest.Unknown))).ThenReplayed(),
		"a key with a different request is refused": apptest.Given().AndCommands(apptest.Issue(key("k"), issueOf(2))).
			When(apptest.Issue(key("k"), issueOf(3))).
			ThenKeyReused(app.KeyReusedError{Key: "k", Scope: apptest.IssueScope}),
		"an absent memo is not an empty one": apptest.Given().AndCommands(apptest.Issue(key("k"), issueOf(1))).
			When(apptest.Issue(key("k"), func() domain.IssueTickets { c := issueOf(1); c.Memo = nil; return c }())).
			ThenKeyReused(app.KeyReusedError{Key: "k", Scope: apptest.IssueScope}),
		"an absent reason is not a given one": apptest.Given(domaintest.Issued(domaintest.TicketA)).AndCommands(apptest.Refund(key("k"), refund(domaintest.TicketA))).
			When(apptest.Refund(key("k"), domain.RefundTickets{TicketIDs: []string{domaintest.TicketA}})).
			ThenKeyReused(app.KeyReusedError{Key: "k", Scope: apptest.RefundScope}),
		"a key of another scope is refused": apptest.Given().AndCommands(apptest.Issue(key("k"), issueOf(1))).
			When(apptest.Refund(key("k"), refund(domaintest.NewID(1)))).
			ThenKeyReused(app.KeyReusedError{Key: "k", Scope: apptest.IssueScope, OtherScope: true}),
		"the same key committed meanwhile is replayed, never executed twice": apptest.Given(domaintest.Issued(domaintest.TicketA)).
			When(apptest.Refund(key("k"), refund(domaintest.TicketA))).
			Meanwhile(apptest.Refund(key("k"), refund(domaintest.TicketA))).
			ThenReplayed(),
		"another request committed meanwhile under the key is refused": apptest.Given(domaintest.Issued(domaintest.TicketA), domaintest.Issued(domaintest.TicketB)).
			When(apptest.Refund(key("k"), refund(domaintest.TicketA))).
			Meanwhile(apptest.Refund(key("k"), refund(domaintest.TicketB))).
			ThenKeyReused(app.KeyReusedError{Key: "k", Scope: apptest.RefundScope}),
	})
}
