// Package apptest runs Given/When/Then scenarios of ticketd's command
// handlers, after go-eventually's command scenarios, against real event
// stores (never a mock): events given are appended to a fresh store, so are
// the effects of earlier commands; the command under test runs through
// package app; then the events it appended and what it reported, its
// replayed answer, or its error (having appended and stored nothing) are
// checked. The vocabulary of events and failures is domaintest's. It is
// for tests only.
package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// Engine opens fresh, empty event stores of one kind.
type Engine struct {
	Name string
	// Open returns a store on a new database of tb's own, closed and
	// removed when tb ends.
	Open func(tb testing.TB) eventstore.Store
}

// Engines are the engines scenarios run on.
var Engines = []Engine{SQLite, PostgreSQL}

// SQLite opens stores in tb.TempDir().
var SQLite = Engine{Name: "sqlite", Open: func(tb testing.TB) eventstore.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "app.db"), sqlite.Options{})
	return closing(tb, s, err)
}}

// PostgreSQL opens stores on a database of their own on the server
// pgtest.URLVar names, and skips tb without one.
var PostgreSQL = Engine{Name: "postgres", Open: func(tb testing.TB) eventstore.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), pgtest.FreshDatabase(tb), postgres.Options{})
	return closing(tb, s, err)
}}

func closing(tb testing.TB, s eventstore.Store, err error) eventstore.Store {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Scopes of the commands' idempotency keys in scenarios.
const (
	IssueScope  = "issue"
	RefundScope = "refund"
)

// Answers returns the answer encoder of scenarios: the JSON of a command's
// result, with a status of its own, under scope.
func Answers[R any](scope string) app.AnswerEncoder[R] { return jsonAnswers[R]{scope} }

type jsonAnswers[R any] struct{ scope string }

// answerStatus is the status scenarios answer with.
const answerStatus = 299

func (a jsonAnswers[R]) Scope() string { return a.scope }

func (a jsonAnswers[R]) EncodeAnswer(result R) (app.Answer, error) {
	b, err := json.Marshal(result)
	return app.Answer{Status: answerStatus, Body: b}, err
}

// Command is a command as a scenario runs it: through the app, with a request.
type Command struct {
	req app.Request
	// run executes the command; report is its result as scenarios compare it.
	run func(ctx context.Context, c *app.Commands, req app.Request) (report any, reply app.Reply, err error)
}

// Issue is an issue command under req; it reports its app.Issued.
func Issue(req app.Request, cmd domain.IssueTickets) Command {
	return Command{req: req, run: func(ctx context.Context, c *app.Commands, req app.Request) (any, app.Reply, error) {
		out, err := c.Issue(ctx, req, cmd, Answers[app.Issued](IssueScope))
		return out.Result, out.Reply, err
	}}
}

// Refund is a refund command under req; it reports its domaintest.RefundLists.
func Refund(req app.Request, cmd domain.RefundTickets) Command {
	return Command{req: req, run: func(ctx context.Context, c *app.Commands, req app.Request) (any, app.Reply, error) {
		out, err := c.Refund(ctx, req, cmd, Answers[domain.RefundDecision](RefundScope))
		return domaintest.ListsOf(out.Result), out.Reply, err
	}}
}

// Scenario is a handler scenario with what it is given.
type Scenario struct {
	events   []domaintest.Event
	commands []Command
}

// Given starts a scenario whose store holds events, appended in order.
func Given(events ...domaintest.Event) Scenario { return Scenario{events: events} }

// When starts a scenario with an empty store.
func When(cmd Command) ScenarioWhen { return Scenario{}.When(cmd) }

// AndCommands has cmds run, in order and each successfully, after the
// given events are appended.
func (s Scenario) AndCommands(cmds ...Command) Scenario {
	s.commands = append(append([]Command(nil), s.commands...), cmds...)
	return s
}

// When names the command under test.
func (s Scenario) When(cmd Command) ScenarioWhen { return ScenarioWhen{given: s, when: cmd} }

// ScenarioWhen is a scenario waiting for its expectation.
type ScenarioWhen struct {
	given     Scenario
	when      Command
	meanwhile *Command
}

// Meanwhile has cmd run to completion once, on commands of its own, after
// the command under test read the state it decides on and before it
// appends: a competitor that wins the race. Refunds read state; cmd runs
// after their first ticket was read.
func (w ScenarioWhen) Meanwhile(cmd Command) ScenarioWhen {
	w.meanwhile = &cmd
	return w
}

// Then expects the command to append exactly events (none when empty) and
// answer what it decided.
func (w ScenarioWhen) Then(events ...domaintest.Event) ScenarioThen {
	return ScenarioThen{when: w, expect: domaintest.Expectation{Events: events}}
}

// ThenError expects the command to fail as f says.
func (w ScenarioWhen) ThenError(f domaintest.Failure) ScenarioThen {
	return ScenarioThen{when: w, expect: domaintest.Expectation{Failure: &f}}
}

// ThenKeyReused expects the command to be refused as want says, a
// CodeConflict error.
func (w ScenarioWhen) ThenKeyReused(want app.KeyReusedError) ScenarioThen {
	return ScenarioThen{when: w, expect: domaintest.Expectation{Failure: &domaintest.Failure{Code: domain.CodeConflict}}, keyReused: &want}
}

// ThenReplayed expects the command to execute nothing and replay the answer
// and position of the last earlier command (given or Meanwhile) with its key.
func (w ScenarioWhen) ThenReplayed() ScenarioThen {
	return ScenarioThen{when: w, replayed: true}
}

// ScenarioThen is a scenario ready to assert.
type ScenarioThen struct {
	when      ScenarioWhen
	expect    domaintest.Expectation
	keyReused *app.KeyReusedError
	replayed  bool
}

// Reporting also expects the command to report report.
func (th ScenarioThen) Reporting(report any) ScenarioThen {
	th.expect.Report, th.expect.HasReport = report, true
	return th
}

// Assert runs the scenario on every engine, each in a parallel subtest.
func (th ScenarioThen) Assert(t *testing.T) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			th.AssertOn(t, e.Open(t))
		})
	}
}

// AssertOn runs the scenario on store, which must be empty.
func (th ScenarioThen) AssertOn(t *testing.T, store eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	newID := domaintest.IDSequence()
	appendGiven(t, store, th.when.given.events)
	answered := map[string]app.Reply{} // the last reply of an earlier command, by key
	for _, cmd := range th.when.given.commands {
		_, reply, err := cmd.run(ctx, app.New(store, newID), cmd.req)
		if err != nil {
			t.Fatalf("given command failed: %v", err)
		}
		answered[cmd.req.IdempotencyKey] = reply
	}
	commands := app.New(store, newID)
	var competed sync.Once
	competitorRan, competitor := false, app.Reply{}
	if m := th.when.meanwhile; m != nil {
		commands.OnRefundRead(func(domain.Ticket, int64) {
			competed.Do(func() {
				_, reply, err := m.run(ctx, app.New(store, newID), m.req)
				if err != nil {
					t.Errorf("the Meanwhile command failed: %v", err)
				}
				competitorRan, competitor, answered[m.req.IdempotencyKey] = true, reply, reply
			})
		})
	}
	before := store.Head()
	when := th.when.when
	report, reply, err := when.run(ctx, commands, when.req) // the hook above runs in this goroutine
	if th.when.meanwhile != nil {
		if !competitorRan {
			t.Fatal("the Meanwhile command never ran: the command under test read no ticket")
		}
		before = max(before, competitor.Position)
	}
	appended := readAfter(t, store, before)
	key := when.req.IdempotencyKey
	earlier, keyUsed := answered[key]
	keyUsed = keyUsed && key != ""
	switch {
	case th.replayed:
		if err != nil {
			t.Fatalf("failed with %v; want a replay", err)
		}
		if !keyUsed {
			t.Fatal("ThenReplayed without an earlier command with the same key")
		}
		if !reply.Replayed || !reflect.DeepEqual(reply.Answer, earlier.Answer) || reply.Position != earlier.Position {
			t.Errorf("reply = %+v (%s); want the replay of %+v (%s)", reply, reply.Answer.Body, earlier, earlier.Answer.Body)
		}
		domaintest.CheckEvents(t, events(t, appended), nil)
	case th.expect.Failure != nil:
		th.expect.Check(t, domaintest.Decision{Events: events(t, appended)}, err)
		var reused *app.KeyReusedError
		if th.keyReused != nil && (!errors.As(err, &reused) || *reused != *th.keyReused) {
			t.Errorf("error %#v; want %#v", err, *th.keyReused)
		}
		if _, stored := lookup(t, store, key); key != "" && !keyUsed && stored {
			t.Errorf("a failed command stored an answer under its key %q", key)
		}
	default:
		th.expect.Check(t, domaintest.Decision{Events: events(t, appended), Report: report}, err)
		checkFresh(t, store, when.req, reply, appended)
	}
}

// checkFresh checks the reply of an executed command: a fresh answer at the
// head, stored under its key exactly as answered, its events carrying its
// request's ids.
func checkFresh(t *testing.T, store eventstore.Store, req app.Request, reply app.Reply, appended []eventstore.Record) {
	t.Helper()
	if reply.Replayed || reply.Answer.Status != answerStatus || reply.Position != store.Head() {
		t.Errorf("reply = %+v at head %d; want a fresh answer at the head", reply, store.Head())
	}
	if rec, stored := lookup(t, store, req.IdempotencyKey); req.IdempotencyKey != "" &&
		(!stored || rec.Status != reply.Answer.Status || string(rec.Body) != string(reply.Answer.Body) || rec.Position != reply.Position) {
		t.Errorf("stored under the key: %+v (%s), found %t; want the answer %s at %d", rec, rec.Body, stored, reply.Answer.Body, reply.Position)
	}
	want := eventstore.Metadata{RequestID: req.RequestID, CorrelationID: req.CorrelationID, IdempotencyKey: req.IdempotencyKey}
	for _, r := range appended {
		var md eventstore.Metadata
		if err := json.Unmarshal(r.Metadata, &md); err != nil || md != want {
			t.Errorf("event at %d has metadata %s; want %+v", r.Position, r.Metadata, want)
		}
	}
}

// appendGiven appends events, one append each, at their streams' versions.
func appendGiven(t *testing.T, store eventstore.Store, given []domaintest.Event) {
	t.Helper()
	versions := map[string]int64{}
	for _, e := range given {
		req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "given"},
			Streams: []eventstore.StreamAppend{{StreamID: e.Stream, ExpectedVersion: versions[e.Stream], Events: []domain.Event{e.Data}}}}
		if _, err := store.Append(context.Background(), req); err != nil {
			t.Fatalf("given %+v: %v", e, err)
		}
		versions[e.Stream]++
	}
}

// readAfter returns every event of the log after position.
func readAfter(t *testing.T, store eventstore.Store, position int64) []eventstore.Record {
	t.Helper()
	records, err := store.ReadStored(context.Background(), position, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// events returns the stream and decoded event of each record.
func events(t *testing.T, records []eventstore.Record) []domaintest.Event {
	t.Helper()
	var out []domaintest.Event
	for _, r := range records {
		e, err := r.Event()
		if err != nil {
			t.Fatalf("event at %d: %v", r.Position, err)
		}
		out = append(out, domaintest.Event{Stream: r.StreamID, Data: e})
	}
	return out
}

// lookup returns the record stored under key; none for an empty key.
func lookup(t *testing.T, store eventstore.Store, key string) (eventstore.IdempotencyRecord, bool) {
	t.Helper()
	if key == "" {
		return eventstore.IdempotencyRecord{}, false
	}
	rec, found, err := store.LookupIdempotency(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return rec, found
}
