// Package domaintest is the Given/When/Then vocabulary of ticketd's scenario
// tests, after go-eventually's aggregate and command scenarios: events
// given (folded into the tickets' state), a command decided against that
// state, then the events (and report) it decides or the error it fails
// with. Scenario runs the domain's pure decisions; internal/app/apptest
// runs the command handlers with the same vocabulary against real stores.
// It is for tests only.
package domaintest

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
)

// Event is one event of one stream, as scenarios give and expect them.
type Event struct {
	Stream string
	Data   domain.Event
}

// ID returns the n-th fixed ticket id scenarios name given streams by.
func ID(n int) string { return fmt.Sprintf("0193a000-0000-7000-8000-%012d", n) }

// Ids of tickets scenarios give, and one no scenario gives.
var (
	TicketA, TicketB, TicketC = ID(1), ID(2), ID(3)
	Unknown                   = ID(99)
)

// NewID returns the n-th id (from 1) a scenario's commands generate for new
// tickets, in the order they ask for them; it is never an ID.
func NewID(n int) string { return fmt.Sprintf("0193b000-0000-7000-8000-%012d", n) }

// IDSequence returns a generator of NewID(1), NewID(2), ..., safe for
// concurrent use.
func IDSequence() func() uuid.UUID {
	var n atomic.Int64
	return func() uuid.UUID { return uuid.MustParse(NewID(int(n.Add(1)))) }
}

// At is when given events occurred.
var At = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Fold returns the state of every stream of events, folded in order.
func Fold(events []Event) map[string]domain.Ticket {
	tickets := make(map[string]domain.Ticket)
	for _, e := range events {
		tickets[e.Stream] = domain.Evolve(tickets[e.Stream], e.Stream, e.Data, At)
	}
	return tickets
}

// RefundLists is what a refund reports beside its events: every distinct
// requested id in one list.
type RefundLists struct {
	Refunded, AlreadyCanceled, NotFound []string
}

// ListsOf returns the lists of a refund decision.
func ListsOf(d domain.RefundDecision) RefundLists {
	return RefundLists{Refunded: d.Refunded, AlreadyCanceled: d.AlreadyCanceled, NotFound: d.NotFound}
}

// Decision is what a command decided, as scenarios compare it.
type Decision struct {
	Events []Event
	// Report is the decision's result beyond its events, nil when it has none.
	Report any
}

// Command decides one command against the given tickets' state.
type Command func(tickets map[string]domain.Ticket) (Decision, error)

// Issue decides cmd with the domain, its tickets under NewID(1), NewID(2), ...
func Issue(cmd domain.IssueTickets) Command {
	return func(map[string]domain.Ticket) (Decision, error) {
		tickets, err := domain.Issue(cmd, IDSequence())
		var d Decision
		for _, t := range tickets {
			d.Events = append(d.Events, Event{Stream: t.ID, Data: t.Event})
		}
		return d, err
	}
}

// Refund decides cmd with the domain; its report is its RefundLists.
func Refund(cmd domain.RefundTickets) Command {
	return func(tickets map[string]domain.Ticket) (Decision, error) {
		r, err := domain.Refund(cmd, tickets)
		d := Decision{Report: ListsOf(r)}
		for i, id := range r.Refunded {
			d.Events = append(d.Events, Event{Stream: id, Data: r.Events[i]})
		}
		return d, err
	}
}

// Scenario is a domain scenario with its given events.
type Scenario struct{ given []Event }

// Given starts a scenario whose streams hold events, in order.
func Given(events ...Event) Scenario { return Scenario{given: events} }

// When starts a scenario with no events given.
func When(cmd Command) ScenarioWhen { return Scenario{}.When(cmd) }

// When names the command the scenario decides.
func (s Scenario) When(cmd Command) ScenarioWhen { return ScenarioWhen{given: s.given, when: cmd} }

// ScenarioWhen is a scenario waiting for its expectation.
type ScenarioWhen struct {
	given []Event
	when  Command
}

// Then expects the command to decide exactly events (none when empty).
func (w ScenarioWhen) Then(events ...Event) ScenarioThen {
	return ScenarioThen{w, Expectation{Events: events}}
}

// ThenError expects the command to fail as f says, deciding nothing.
func (w ScenarioWhen) ThenError(f Failure) ScenarioThen {
	return ScenarioThen{w, Expectation{Failure: &f}}
}

// ScenarioThen is a scenario ready to assert.
type ScenarioThen struct {
	ScenarioWhen
	Expectation
}

// Reporting also expects the decision's report to be report.
func (th ScenarioThen) Reporting(report any) ScenarioThen {
	th.Report, th.HasReport = report, true
	return th
}

// Assert decides the command against the given state and checks the
// expectation.
func (th ScenarioThen) Assert(t *testing.T) {
	t.Helper()
	d, err := th.when(Fold(th.given))
	th.Check(t, d, err)
}

// Expectation is the Then of a scenario: the events and report of a
// decision, or its failure.
type Expectation struct {
	Events    []Event
	Report    any
	HasReport bool
	// Failure, when set, is the expected error; then no event may be
	// decided.
	Failure *Failure
}

// Check reports on t where d and err differ from the expectation.
func (e Expectation) Check(t testing.TB, d Decision, err error) {
	t.Helper()
	if e.Failure != nil {
		e.Failure.Check(t, err)
		if len(d.Events) > 0 {
			t.Errorf("a failed command decided %d events: %+v", len(d.Events), d.Events)
		}
		return
	}
	if err != nil {
		t.Fatalf("failed with %v; want success", err)
	}
	CheckEvents(t, d.Events, e.Events)
	if e.HasReport && !reflect.DeepEqual(d.Report, e.Report) {
		t.Errorf("report = %#v\n          want %#v", d.Report, e.Report)
	}
}

// CheckEvents reports on t where got differs from want, in order.
func CheckEvents(t testing.TB, got, want []Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got  %s\n want %s", describe(got), describe(want))
	}
}

func describe(events []Event) string {
	s := fmt.Sprintf("%d events", len(events))
	for _, e := range events {
		s += fmt.Sprintf("\n      %s %s %+v", e.Stream, e.Data.EventType(), e.Data)
	}
	return s
}

// Failure is an expected error: its domain code and, for CodeInvalid, the
// fields it names, in order.
type Failure struct {
	Code   domain.Code
	Fields []string
}

// Invalid expects a CodeInvalid error naming exactly fields, in order.
func Invalid(fields ...string) Failure { return Failure{Code: domain.CodeInvalid, Fields: fields} }

// Check reports on t where err differs from f.
func (f Failure) Check(t testing.TB, err error) {
	t.Helper()
	if code := domain.ErrorCode(err); code != f.Code {
		t.Fatalf("error %v has code %q; want %q", err, code, f.Code)
	}
	var names []string
	for _, fe := range domain.FieldErrors(err) {
		names = append(names, fe.Field)
	}
	if !reflect.DeepEqual(names, f.Fields) {
		t.Errorf("error names fields %v; want %v", names, f.Fields)
	}
}

// Text returns a pointer to s, for optional texts.
func Text(s string) *string { return &s }

// Sold is the ticket scenarios sell.
var Sold = domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Memo: Text("VIP석")}

// Issued is the event that sells Sold as ticket id.
func Issued(id string) Event { return Event{Stream: id, Data: Sold} }

// Refunded is the event that refunds ticket id for reason.
func Refunded(id string, reason *string) Event {
	return Event{Stream: id, Data: domain.TicketRefunded{Reason: reason}}
}

// Lists returns the lists a refund reports; a nil list is reported empty.
func Lists(refunded, alreadyCanceled, notFound []string) RefundLists {
	orEmpty := func(ids []string) []string {
		if ids == nil {
			return []string{}
		}
		return ids
	}
	return RefundLists{Refunded: orEmpty(refunded), AlreadyCanceled: orEmpty(alreadyCanceled), NotFound: orEmpty(notFound)}
}

// Asserter is a scenario of either package, ready to assert.
type Asserter interface{ Assert(t *testing.T) }

// Run asserts every scenario in a parallel subtest named after it.
func Run(t *testing.T, scenarios map[string]Asserter) {
	t.Helper()
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc.Assert(t)
		})
	}
}
