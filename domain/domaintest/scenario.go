// Package domaintest is the Given/When/Then vocabulary of ticketd's scenario
// tests, after go-eventually's aggregate and command scenarios: events
// given (folded into the tickets' and showings' state), a command decided
// against that state at a clock, then the events (and report) it decides or
// the error it fails with. Scenario runs the domain's pure decisions; internal/app/apptest
// runs the command handlers with the same vocabulary against real stores.
// It is for tests only.
package domaintest

import (
	"errors"
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

// At is when given events occurred; Now, an hour later, is when commands
// are decided unless a scenario says otherwise.
var (
	At  = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	Now = At.Add(time.Hour)
)

// State is what given events fold to, and the clock a command decides at.
type State struct {
	Tickets  map[string]domain.Ticket
	Showings map[string]*domain.Showing
	Now      time.Time
}

// Fold returns the state of every stream of events, folded in order, at Now:
// the showing events into their showings, a ticket bought on a hold into
// its ticket and its showing, other ticket events into their tickets.
func Fold(events []Event) State {
	st := State{Tickets: map[string]domain.Ticket{}, Showings: map[string]*domain.Showing{}, Now: Now}
	showing := func(id string) *domain.Showing {
		if st.Showings[id] == nil {
			st.Showings[id] = &domain.Showing{}
		}
		return st.Showings[id]
	}
	for _, e := range events {
		switch d := e.Data.(type) {
		case domain.ShowingScheduled, domain.SeatsHeld, domain.HoldReleased, domain.HoldExpired:
			showing(e.Stream).Evolve(e.Stream, d, At)
			continue
		case domain.TicketIssued:
			if d.ShowingID != nil {
				showing(*d.ShowingID).Evolve(e.Stream, d, At)
			}
		}
		st.Tickets[e.Stream] = domain.Evolve(st.Tickets[e.Stream], e.Stream, e.Data, At)
	}
	return st
}

// showingOfHold returns the showing that has hold id, or nil.
func (st State) showingOfHold(id string) *domain.Showing {
	for _, s := range st.Showings {
		if _, ok := s.Holds[id]; ok {
			return s
		}
	}
	return nil
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

// Command decides one command against the given state.
type Command func(State) (Decision, error)

// Issue decides cmd with the domain, its tickets under NewID(1), NewID(2), ...
func Issue(cmd domain.IssueTickets) Command {
	return func(State) (Decision, error) {
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
	return func(st State) (Decision, error) {
		r, err := domain.Refund(cmd, st.Tickets)
		d := Decision{Report: ListsOf(r)}
		for i, id := range r.Refunded {
			d.Events = append(d.Events, Event{Stream: id, Data: r.Events[i]})
		}
		return d, err
	}
}

// Schedule decides cmd with the domain, the showing under NewID(1).
func Schedule(cmd domain.ScheduleShowing) Command {
	return func(st State) (Decision, error) {
		s, err := domain.Schedule(cmd, st.Now, IDSequence())
		if err != nil {
			return Decision{}, err
		}
		return Decision{Events: []Event{{Stream: s.ID, Data: s.Event}}}, nil
	}
}

// Hold decides cmd on showing id with the domain, the hold under NewID(1);
// its report is the hold and the seats it asks the log for.
func Hold(id string, cmd domain.HoldSeats) Command {
	return func(st State) (Decision, error) {
		h, err := domain.TakeHold(cmd, st.Showings[id], st.Now, IDSequence())
		if err != nil {
			return Decision{}, err
		}
		return Decision{Events: []Event{{Stream: id, Data: h.Event}}, Report: HoldReport{h.Hold, h.Seats}}, nil
	}
}

// HoldReport is what a hold or release decision reports beside its events.
type HoldReport struct {
	Hold  domain.Hold
	Seats domain.SeatChanges
}

// IssueForShowing decides cmd with the domain against the showing its
// ShowingID names or that has its HoldID, its tickets under NewID(1),
// NewID(2), ...; its report is the seats it asks the log for.
func IssueForShowing(cmd domain.IssueShowingTickets) Command {
	return func(st State) (Decision, error) {
		var s *domain.Showing
		switch {
		case cmd.ShowingID != nil:
			s = st.Showings[*cmd.ShowingID]
		case cmd.HoldID != nil:
			s = st.showingOfHold(*cmd.HoldID)
		}
		sale, err := domain.IssueForShowing(cmd, s, st.Now, IDSequence())
		if err != nil {
			return Decision{}, err
		}
		d := Decision{Report: sale.Seats}
		for _, t := range sale.Tickets {
			d.Events = append(d.Events, Event{Stream: t.ID, Data: t.Event})
		}
		return d, nil
	}
}

// Release decides the release of hold id with the domain; its report is
// the hold as answered and the seats it asks the log for.
func Release(id string) Command {
	return func(st State) (Decision, error) {
		s := st.showingOfHold(id)
		r, err := domain.ReleaseHold(s, id, st.Now)
		if err != nil {
			return Decision{}, err
		}
		d := Decision{Report: HoldReport{r.Hold, r.Seats}}
		if r.Event != nil {
			d.Events = []Event{{Stream: s.ID, Data: *r.Event}}
		}
		return d, nil
	}
}

// Expire decides the expiry of hold id with the domain; its report is the
// seats it asks the log for.
func Expire(id string) Command {
	return func(st State) (Decision, error) {
		s := st.showingOfHold(id)
		e, seats, ok := domain.ExpireHold(s, id, st.Now)
		if !ok {
			return Decision{}, nil
		}
		return Decision{Events: []Event{{Stream: s.ID, Data: e}}, Report: seats}, nil
	}
}

// RefundSeats decides cmd with the domain; its report is the seats the
// refund gives back.
func RefundSeats(cmd domain.RefundTickets) Command {
	return func(st State) (Decision, error) {
		r, err := domain.Refund(cmd, st.Tickets)
		if err != nil {
			return Decision{}, err
		}
		showings := map[string]*domain.Showing{}
		for _, id := range domain.RefundShowings(r.Refunded, st.Tickets) {
			showings[id] = st.Showings[id]
		}
		seats, err := domain.RefundSeats(r.Refunded, st.Tickets, showings)
		d := Decision{Report: seats}
		for i, id := range r.Refunded {
			d.Events = append(d.Events, Event{Stream: id, Data: r.Events[i]})
		}
		return d, err
	}
}

// Scenario is a domain scenario with its given events.
type Scenario struct {
	given []Event
	now   time.Time
}

// Given starts a scenario whose streams hold events, in order.
func Given(events ...Event) Scenario { return Scenario{given: events, now: Now} }

// When starts a scenario with no events given.
func When(cmd Command) ScenarioWhen { return Given().When(cmd) }

// At sets the clock the command decides at (Now unless set).
func (s Scenario) At(now time.Time) Scenario { s.now = now; return s }

// When names the command the scenario decides.
func (s Scenario) When(cmd Command) ScenarioWhen {
	return ScenarioWhen{given: s.given, now: s.now, when: cmd}
}

// ScenarioWhen is a scenario waiting for its expectation.
type ScenarioWhen struct {
	given []Event
	now   time.Time
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
	st := Fold(th.given)
	st.Now = th.now
	d, err := th.when(st)
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

// Failure is an expected error: its domain code, for CodeInvalid the
// fields it names, in order, and for a broken seat rule the rule and its
// facts.
type Failure struct {
	Code   domain.Code
	Fields []string
	Rule   domain.Rule
	Facts  map[string]int64
}

// Invalid expects a CodeInvalid error naming exactly fields, in order.
func Invalid(fields ...string) Failure { return Failure{Code: domain.CodeInvalid, Fields: fields} }

// Broken expects a CodeConflict error breaking rule, with facts.
func Broken(rule domain.Rule, facts map[string]int64) Failure {
	return Failure{Code: domain.CodeConflict, Rule: rule, Facts: facts}
}

// NotFound expects a CodeNotFound error.
var NotFound = Failure{Code: domain.CodeNotFound}

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
	var e *domain.Error
	if errors.As(err, &e) && (e.Rule != f.Rule || !reflect.DeepEqual(e.Facts, f.Facts)) {
		t.Errorf("error breaks rule %q with facts %v; want %q with %v", e.Rule, e.Facts, f.Rule, f.Facts)
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
