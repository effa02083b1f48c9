// Package app is ticketd's command handling, for every way a command comes
// in (the HTTP API, `ticketd seed`): it decides issues and refunds from the
// event log with the domain's rules, appends the events with the stream
// versions it decided on, stores the answer under the Idempotency-Key in the
// same transaction, replays a stored answer, and decides again when it lost
// an optimistic-concurrency race.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/tracing"
)

// Endpoints named by idempotency records; a key belongs to one.
const (
	EndpointIssue  = "POST /tickets/issue"
	EndpointRefund = "POST /tickets/refund"
)

// maxRefundAttempts bounds how often a refund reloads and decides again after
// losing an optimistic-concurrency race.
const maxRefundAttempts = 20

// Log is what commands need of the event log.
type Log interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	LookupIdempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, bool, error)
	Head() int64
}

// Commands executes issue and refund commands on one log. It is safe for
// concurrent use.
type Commands struct {
	log   Log
	newID func() uuid.UUID
	// onRefundRead, when set, gets every existing ticket a refund decision
	// folded from the log.
	onRefundRead func(domain.Ticket)
}

// New returns the commands of log; newID returns fresh ticket ids (nil:
// UUID version 7).
func New(log Log, newID func() uuid.UUID) *Commands {
	if newID == nil {
		newID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	return &Commands{log: log, newID: newID}
}

// OnRefundRead has fn called with every existing ticket a refund decision
// reads from the log, as folded, before the decision's append (which may
// still fail), so a read model that needs the same facts again need not
// read them; fn must be safe for concurrent use and quick. Call it before
// the first command.
func (c *Commands) OnRefundRead(fn func(domain.Ticket)) { c.onRefundRead = fn }

// Request is what ties a command to the request that carried it.
type Request struct {
	// IdempotencyKey, when set, makes the command run once per key: a retry
	// with the same request gets the stored answer.
	IdempotencyKey string
	RequestID      string
	CorrelationID  string
}

// Result is a command's answer, as sent and as stored under its key.
type Result struct {
	Status int
	Body   []byte
	// Position is the log position it committed at, or the head when it
	// committed nothing: read models that reached it reflect it.
	Position int64
	// Replayed says the answer is the one stored under the key.
	Replayed bool
	// Location names the first issued ticket, for a 201.
	Location string
	// Issued and Refunded count the tickets the command changed.
	Issued, Refunded int
}

// ErrKeyReused is wrapped by the CodeConflict error of a request whose
// Idempotency-Key was already used on another endpoint or with another
// request.
var ErrKeyReused = errors.New("idempotency key reused")

// Decision is one decided-and-encoded attempt of a command: what to append
// and what to answer once it is committed.
type Decision struct {
	Append   eventstore.AppendRequest
	Status   int
	Response any
	Location string
	Issued   int
	Refunded int
}

// Issue issues cmd's tickets. It fails with the domain's CodeInvalid error
// when cmd breaks its rules, with a CodeConflict error wrapping ErrKeyReused
// for a reused key, and with the log's errors.
func (c *Commands) Issue(ctx context.Context, req Request, cmd domain.IssueTickets) (Result, error) {
	return c.run(ctx, req, EndpointIssue, cmd, func(context.Context) (Decision, error) { return c.DecideIssue(cmd) })
}

// Refund refunds cmd's tickets that are issued, reporting the others. It
// fails as Issue does, and with a CodeUnavailable error when it lost the
// race for its tickets maxRefundAttempts times.
func (c *Commands) Refund(ctx context.Context, req Request, cmd domain.RefundTickets) (Result, error) {
	return c.run(ctx, req, EndpointRefund, cmd, func(ctx context.Context) (Decision, error) { return c.DecideRefund(ctx, cmd) })
}

// run executes a validated command, parsed (defaults applied), exactly once
// per idempotency key: a stored key is replayed (same request) or refused
// (different request); otherwise decide builds the append, and a lost
// concurrency race re-decides.
func (c *Commands) run(ctx context.Context, req Request, endpoint string, parsed any, decide func(ctx context.Context) (Decision, error)) (Result, error) {
	key := req.IdempotencyKey
	var fingerprint string
	if key != "" {
		fingerprint = requestFingerprint(endpoint, parsed)
		rec, found, err := c.log.LookupIdempotency(ctx, key)
		if err != nil {
			return Result{}, err
		}
		if found {
			return storedAnswer(rec, endpoint, fingerprint)
		}
	}
	for attempt := 1; ; attempt++ {
		d, err := decide(ctx)
		if err != nil {
			return Result{}, err
		}
		body, err := json.Marshal(d.Response)
		if err != nil {
			return Result{}, fmt.Errorf("encode response: %w", err)
		}
		d.Append.Metadata = eventstore.Metadata{RequestID: req.RequestID, CorrelationID: req.CorrelationID, IdempotencyKey: key}
		d.Append.Metadata.Traceparent, d.Append.Metadata.Tracestate = tracing.Traceparent(ctx)
		if key != "" {
			d.Append.Idempotency = &eventstore.IdempotencyRecord{Key: key, Endpoint: endpoint, Fingerprint: fingerprint, Status: d.Status, Body: body}
		}
		res, err := c.appendOrObserve(ctx, d.Append)
		var taken *eventstore.KeyTakenError
		switch {
		case errors.As(err, &taken):
			return storedAnswer(taken.Existing, endpoint, fingerprint)
		case errors.Is(err, eventstore.ErrConcurrency) && attempt < maxRefundAttempts:
			continue
		case errors.Is(err, eventstore.ErrConcurrency):
			return Result{}, domain.Errorf(domain.CodeUnavailable, "The tickets are being changed by many requests at once; retry.")
		case err != nil:
			return Result{}, err
		}
		return Result{Status: d.Status, Body: body, Position: res.Position,
			Location: d.Location, Issued: d.Issued, Refunded: d.Refunded}, nil
	}
}

// appendOrObserve appends req; a request with nothing to append or store
// commits nothing and only needs the read model to reach the current head.
func (c *Commands) appendOrObserve(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if len(req.Streams) == 0 && req.Idempotency == nil {
		return eventstore.AppendResult{Position: c.log.Head()}, nil
	}
	return c.log.Append(ctx, req)
}

// storedAnswer answers a request whose key is stored: the stored body with 200
// when endpoint and request match, else a CodeConflict error wrapping
// ErrKeyReused.
func storedAnswer(rec eventstore.IdempotencyRecord, endpoint, fingerprint string) (Result, error) {
	if rec.Endpoint != endpoint {
		return Result{}, keyReused(domain.Errorf(domain.CodeConflict, "Idempotency-Key %q was already used on %s.", rec.Key, rec.Endpoint))
	}
	if rec.Fingerprint != fingerprint {
		return Result{}, keyReused(domain.Errorf(domain.CodeConflict, "Idempotency-Key %q was already used with a different request.", rec.Key))
	}
	return Result{Status: http.StatusOK, Body: rec.Body, Position: rec.Position, Replayed: true}, nil
}

// keyReused is a CodeConflict error that also matches ErrKeyReused.
func keyReused(err error) error { return keyReusedError{err} }

type keyReusedError struct{ err error }

func (e keyReusedError) Error() string   { return e.err.Error() }
func (e keyReusedError) Unwrap() []error { return []error{e.err, ErrKeyReused} }

// requestFingerprint identifies a parsed request (after defaults), so a retry
// with reordered keys or other whitespace matches and any change in meaning
// does not.
func requestFingerprint(endpoint string, parsed any) string {
	b, err := json.Marshal(parsed)
	if err != nil {
		panic(fmt.Sprintf("fingerprint: %v", err)) // parsed commands are plain data
	}
	sum := sha256.Sum256(append([]byte(endpoint+"\n"), b...))
	return hex.EncodeToString(sum[:])
}

// issueResponse is the body of a successful issue.
type issueResponse struct {
	TicketIDs []string     `json:"ticket_ids"`
	Count     int          `json:"count"`
	Summary   issueSummary `json:"summary"`
}

type issueSummary struct {
	TheaterName string `json:"theater_name"`
	MovieTitle  string `json:"movie_title"`
	PriceKRW    int64  `json:"price_krw"`
}

// DecideIssue returns the append and answer of an issue command, or the
// domain's CodeInvalid error when cmd breaks its rules.
func (c *Commands) DecideIssue(cmd domain.IssueTickets) (Decision, error) {
	tickets, err := domain.Issue(cmd, c.newID)
	if err != nil {
		return Decision{}, err
	}
	resp := issueResponse{
		TicketIDs: make([]string, len(tickets)),
		Count:     len(tickets),
		Summary:   issueSummary{TheaterName: cmd.TheaterName, MovieTitle: cmd.MovieTitle, PriceKRW: cmd.PriceKRW},
	}
	req := eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(tickets))}
	for i, t := range tickets {
		resp.TicketIDs[i] = t.ID
		req.Streams[i] = eventstore.StreamAppend{StreamID: t.ID, ExpectedVersion: 0, Events: []domain.Event{t.Event}}
	}
	return Decision{Append: req, Status: http.StatusCreated, Response: resp,
		Location: "/tickets/" + resp.TicketIDs[0], Issued: len(tickets)}, nil
}

// refundResponse is the body of a refund.
type refundResponse struct {
	Refunded        []string `json:"refunded"`
	AlreadyCanceled []string `json:"already_canceled"`
	NotFound        []string `json:"not_found"`
}

// DecideRefund loads the current state of every named ticket and returns
// the append (expecting the versions it saw) and answer of a refund
// command, or the domain's CodeInvalid error when cmd breaks its rules.
func (c *Commands) DecideRefund(ctx context.Context, cmd domain.RefundTickets) (Decision, error) {
	tickets := make(map[string]domain.Ticket)
	for _, id := range cmd.DistinctIDs() {
		records, err := c.log.ReadStream(ctx, id)
		if err != nil {
			return Decision{}, err
		}
		t, err := eventstore.Fold(records)
		if err != nil {
			return Decision{}, err
		}
		if t.Exists() {
			tickets[id] = t
			if c.onRefundRead != nil {
				c.onRefundRead(t)
			}
		}
	}
	d, err := domain.Refund(cmd, tickets)
	if err != nil {
		return Decision{}, err
	}
	req := eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(d.Refunded))}
	for i, id := range d.Refunded {
		req.Streams[i] = eventstore.StreamAppend{StreamID: id, ExpectedVersion: tickets[id].Version, Events: []domain.Event{d.Events[i]}}
	}
	resp := refundResponse{Refunded: d.Refunded, AlreadyCanceled: d.AlreadyCanceled, NotFound: d.NotFound}
	return Decision{Append: req, Status: http.StatusOK, Response: resp, Refunded: len(d.Refunded)}, nil
}
