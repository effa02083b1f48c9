// Package app is ticketd's command handling, for every way a command comes
// in (the HTTP API, `ticketd seed`): each command handler (one file each)
// decides from the event log with the domain's rules and appends the events
// with the stream versions it decided on; the shared runner
// (idempotency.go) stores the caller's answer under the idempotency key in
// the same transaction, replays a stored answer, and decides again when a
// command lost an optimistic-concurrency race.
//
// app knows no transport: a command returns its domain result, and the
// adapter that carried it encodes its answer through an AnswerEncoder and
// maps its errors.
package app

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Log is what commands need of the event log.
type Log interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	LookupIdempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, bool, error)
	Head() int64
}

// Commands executes ticketd's commands on one log, one method per command,
// each in its own file. It is safe for concurrent use.
type Commands struct {
	log   Log
	newID func() uuid.UUID
	// now is the clock showings' commands decide at (sales close, holds
	// expire); the log decides their seats at its own.
	now func() time.Time
	// holds finds holds; nil: no hold is found.
	holds HoldFinder
	// schedules are the showings read, without their holds, by id.
	schedules sync.Map
	// onRefundRead, when set, gets every existing ticket a refund decision
	// folded from the log, and the position of its issue.
	onRefundRead func(domain.Ticket, int64)
}

// New returns the commands of log; newID returns fresh ticket ids (nil:
// UUID version 7).
func New(log Log, newID func() uuid.UUID) *Commands {
	if newID == nil {
		newID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	return &Commands{log: log, newID: newID, now: time.Now}
}

// HoldFinder finds holds, for the commands that name a hold: buying on it,
// releasing it, expiring it. These read no showing's stream: the hold's
// showing, buyer, quantity and expiry never change, and its status may lag
// the log (an active hold may have ended since), because the log's
// reservation of the hold decides whether it can be bought or released.
type HoldFinder interface {
	// FindHold returns hold id; found is false for a hold the log has not
	// committed. It fails with storage errors.
	FindHold(ctx context.Context, id string) (hold domain.Hold, found bool, err error)
}

// UseShowings sets the clock showings' commands decide at (nil: time.Now;
// it should be the log's) and what finds holds. Call it before the first
// command.
func (c *Commands) UseShowings(now func() time.Time, holds HoldFinder) {
	if now == nil {
		now = time.Now
	}
	c.now, c.holds = now, holds
}

// Request is what ties a command to the request that carried it.
type Request struct {
	// IdempotencyKey, when set, makes the command run once per key: a retry
	// with the same request gets the stored answer.
	IdempotencyKey string
	RequestID      string
	CorrelationID  string
}

// Answer is a command's answer as the adapter that carried it encoded it.
// app stores it under the idempotency key and returns it on a replay byte
// for byte, and never reads it.
type Answer struct {
	// Status is the adapter's status of the answer (httpapi: the HTTP
	// status of the first execution).
	Status int
	Body   []byte
}

// AnswerEncoder is how the adapter that carries a command answers it, so
// that the answer can be stored in the transaction that appends the
// command's events. Implementations must be safe for concurrent use.
type AnswerEncoder[R any] interface {
	// Scope names the kind of command the idempotency keys of its requests
	// belong to: a key stored in one scope is refused in any other. Stored
	// records carry it, so a kind of command keeps its scope forever.
	Scope() string
	// EncodeAnswer returns the answer to a command's result. It fails only
	// when the result cannot be encoded.
	EncodeAnswer(result R) (Answer, error)
}

// Reply is what a command answered.
type Reply struct {
	// Answer is the answer as encoded for this execution or, when Replayed,
	// as stored under the key by the execution the key belongs to.
	Answer Answer
	// Position is the log position the command committed at, or the head
	// when it committed nothing: read models that reached it reflect it.
	Position int64
	// Replayed says the answer is the one stored under the key, and nothing
	// was executed.
	Replayed bool
}

// Outcome is a command's reply and, unless it was replayed, its result.
type Outcome[R any] struct {
	Reply
	// Result is what the command decided; the zero R when Replayed.
	Result R
}

// Decision is one decided attempt of a command: what to append, and the
// command's result once that is committed.
type Decision[R any] struct {
	Append eventstore.AppendRequest
	Result R
	// Refused, when set, is asked when the log refuses the append's claims
	// or reservations (*eventstore.LimitError, *eventstore.ReservationError,
	// *eventstore.ReservationExistsError): it returns the decision to
	// append instead, or the error the command fails with. Unset, the
	// log's error is the command's.
	Refused func(err error) (Decision[R], error)
}
