package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/tracing"
)

// maxAttempts bounds how often a command reloads and decides again after
// losing an optimistic-concurrency race.
const maxAttempts = 20

// run executes a validated command, parsed (defaults applied), exactly once
// per idempotency key: a stored key is replayed (same scope and request) or
// refused with a *KeyReusedError; otherwise decide builds the append, the
// answer to its result is stored with it, and a lost concurrency race
// decides again. It fails with decide's and the log's errors, and with a
// CodeUnavailable error after maxAttempts lost races.
func run[R any](ctx context.Context, log Log, req Request, parsed any, answers AnswerEncoder[R], decide func(context.Context) (Decision[R], error)) (Outcome[R], error) {
	key, scope := req.IdempotencyKey, answers.Scope()
	var fingerprint string
	if key != "" {
		fingerprint = requestFingerprint(scope, parsed)
		rec, found, err := log.LookupIdempotency(ctx, key)
		if err != nil {
			return Outcome[R]{}, err
		}
		if found {
			return storedAnswer[R](rec, scope, fingerprint)
		}
	}
	for attempt := 1; ; attempt++ {
		d, err := decide(ctx)
		if err != nil {
			return Outcome[R]{}, err
		}
	refused:
		answer, err := answers.EncodeAnswer(d.Result)
		if err != nil {
			return Outcome[R]{}, fmt.Errorf("encode answer: %w", err)
		}
		d.Append.Metadata = eventstore.Metadata{RequestID: req.RequestID, CorrelationID: req.CorrelationID, IdempotencyKey: key}
		d.Append.Metadata.Traceparent, d.Append.Metadata.Tracestate = tracing.Traceparent(ctx)
		if key != "" {
			d.Append.Idempotency = &eventstore.IdempotencyRecord{Key: key, Endpoint: scope, Fingerprint: fingerprint, Status: answer.Status, Body: answer.Body}
		}
		res, err := appendOrObserve(ctx, log, d.Append)
		if d.Refused != nil && refusedByLog(err) {
			if d, err = d.Refused(err); err != nil {
				return Outcome[R]{}, err
			}
			goto refused
		}
		var taken *eventstore.KeyTakenError
		switch {
		case errors.As(err, &taken):
			return storedAnswer[R](taken.Existing, scope, fingerprint)
		case errors.Is(err, eventstore.ErrConcurrency) && attempt < maxAttempts:
			continue
		case errors.Is(err, eventstore.ErrConcurrency):
			return Outcome[R]{}, domain.Errorf(domain.CodeUnavailable, "Too many requests are changing the same data at once; retry.")
		case err != nil:
			return Outcome[R]{}, err
		}
		return Outcome[R]{Reply: Reply{Answer: answer, Position: res.Position}, Result: d.Result}, nil
	}
}

// refusedByLog reports whether err is the log refusing an append's claims
// or reservations.
func refusedByLog(err error) bool {
	var limit *eventstore.LimitError
	var reservation *eventstore.ReservationError
	var exists *eventstore.ReservationExistsError
	return errors.As(err, &limit) || errors.As(err, &reservation) || errors.As(err, &exists)
}

// appendOrObserve appends req; a request with nothing to append or store
// commits nothing and only needs the read models to reach the current head.
func appendOrObserve(ctx context.Context, log Log, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if len(req.Streams) == 0 && req.Idempotency == nil {
		return eventstore.AppendResult{Position: log.Head()}, nil
	}
	return log.Append(ctx, req)
}

// storedAnswer answers a request whose key is stored: the stored answer,
// replayed, when scope and request match, else a *KeyReusedError.
func storedAnswer[R any](rec eventstore.IdempotencyRecord, scope, fingerprint string) (Outcome[R], error) {
	if rec.Endpoint != scope || rec.Fingerprint != fingerprint {
		return Outcome[R]{}, &KeyReusedError{Key: rec.Key, Scope: rec.Endpoint, OtherScope: rec.Endpoint != scope}
	}
	return Outcome[R]{Reply: Reply{Answer: Answer{Status: rec.Status, Body: rec.Body}, Position: rec.Position, Replayed: true}}, nil
}

// KeyReusedError is the error of a command whose idempotency key is stored
// for another scope or another request; nothing was executed. Its
// domain.ErrorCode is CodeConflict.
type KeyReusedError struct {
	Key string
	// Scope is the scope the key is stored in.
	Scope string
	// OtherScope says Scope is not the command's; else the key is stored
	// with a different request of the same scope.
	OtherScope bool
}

func (e *KeyReusedError) Error() string {
	if e.OtherScope {
		return fmt.Sprintf("idempotency key %q was already used on %s", e.Key, e.Scope)
	}
	return fmt.Sprintf("idempotency key %q was already used with a different request", e.Key)
}

// Unwrap gives the CodeConflict *domain.Error the key's reuse is.
func (e *KeyReusedError) Unwrap() error {
	return &domain.Error{Code: domain.CodeConflict, Message: "The " + e.Error() + "."}
}

// requestFingerprint identifies a parsed request (after defaults) of a
// scope, so a retry with reordered keys or other whitespace matches and any
// change in meaning does not. Stored records carry it: its encoding (the
// scope, a newline, the JSON of the parsed command) must never change.
func requestFingerprint(scope string, parsed any) string {
	b, err := json.Marshal(parsed)
	if err != nil {
		panic(fmt.Sprintf("fingerprint: %v", err)) // parsed commands are plain data
	}
	sum := sha256.Sum256(append([]byte(scope+"\n"), b...))
	return hex.EncodeToString(sum[:])
}
