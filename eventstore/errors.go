package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ticketd/ticketd/domain"
)

// ErrConcurrency reports that a stream's version was not the one an append
// expected: someone else appended first. Callers reload the stream, decide
// again and retry. It is returned wrapped; test with errors.Is.
var ErrConcurrency = errors.New("stream version conflict")

// VersionConflict returns the error, wrapping ErrConcurrency, that stream is
// not at the expected version; current is -1 when only "not expected" is
// known (a unique constraint refused the next version).
func VersionConflict(stream string, current, expected int64) error {
	if current < 0 {
		return fmt.Errorf("stream %s is past version %d: %w", stream, expected, ErrConcurrency)
	}
	return fmt.Errorf("stream %s is at version %d, expected %d: %w", stream, current, expected, ErrConcurrency)
}

// KeyTakenError reports that an append's idempotency key is already stored,
// by a committed command or by one committed earlier in the same group.
// Nothing of the failed append was written.
type KeyTakenError struct {
	Existing IdempotencyRecord
}

func (e *KeyTakenError) Error() string {
	return fmt.Sprintf("idempotency key %q is already used", e.Existing.Key)
}

// ErrChain reports an imported event whose position, prev_hash or hash does
// not continue the log; it is returned wrapped with the position.
var ErrChain = errors.New("event does not continue the hash chain")

// CheckContinues returns an error wrapping ErrChain unless r continues a log
// whose last event is at position with the given hash: r is at position+1,
// chains from hash, and carries the hash ComputeHash gives.
func CheckContinues(r Record, position int64, hash string) error {
	switch {
	case r.Position != position+1:
		return fmt.Errorf("position %d follows %d: %w", r.Position, position, ErrChain)
	case r.PrevHash != hash:
		return fmt.Errorf("position %d: prev_hash %s is not the hash of position %d: %w", r.Position, r.PrevHash, position, ErrChain)
	case r.ComputeHash() != r.Hash:
		return fmt.Errorf("position %d: content does not match its hash %s: %w", r.Position, r.Hash, ErrChain)
	}
	return nil
}

// ErrLocked reports that another process holds the database for writing.
// The single-writer design (gap-free positions assigned in memory) relies on
// exactly one writable Store per database.
var ErrLocked = errors.New("database is in use by another ticketd process")

// CorruptEventError is a stored event that cannot be served because its data
// or metadata is not a JSON object, or its hash is not a hash, which only a
// change made to the database outside ticketd can cause. It is an internal
// error for users.
type CorruptEventError struct {
	Position int64
	Field    string // "data", "metadata" or "hash"
}

func (e *CorruptEventError) Error() string {
	if e.Field == "hash" {
		return fmt.Sprintf("event at position %d is corrupt: its stored hash is not a SHA-256 in lowercase hex", e.Position)
	}
	return fmt.Sprintf("event at position %d is corrupt: its stored %s is not a JSON object", e.Position, e.Field)
}

// CheckStoredJSON returns a *CorruptEventError when r's data or metadata is
// not a JSON object. Engines call it on every event they read.
func (r Record) CheckStoredJSON() error {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"data", r.Data}, {"metadata", r.Metadata}} {
		if trimmed := bytes.TrimLeft(f.raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(f.raw) {
			return &CorruptEventError{Position: r.Position, Field: f.name}
		}
	}
	return nil
}

// Unavailable wraps a storage fault (connection lost, disk full, read-only
// storage, lock timeout): the result is a CodeUnavailable *domain.Error for
// users, with cause kept for logs. An error already classified so is
// returned as it is.
func Unavailable(cause error) error {
	return classifyFault(cause, errStorageUnavailable)
}

// ReadOnlyStorage is Unavailable for a fault that says the storage takes
// no writes (a read-only file, filesystem or database), which users are
// told.
func ReadOnlyStorage(cause error) error {
	return classifyFault(cause, errReadOnlyStorage)
}

// What users see of storage faults.
var (
	errStorageUnavailable = domain.Errorf(domain.CodeUnavailable, "Storage is temporarily unavailable; retry later.")
	errReadOnlyStorage    = domain.Errorf(domain.CodeUnavailable, "The database is read-only; commands are refused until it takes writes again.")
)

// classifyFault wraps cause with what users see of it, unless it is
// classified already.
func classifyFault(cause error, user *domain.Error) error {
	var classified *unavailableError
	if errors.As(cause, &classified) {
		return cause
	}
	return &unavailableError{cause: cause, user: user}
}

type unavailableError struct {
	cause error
	user  *domain.Error
}

func (e *unavailableError) Error() string   { return "storage unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.user, e.cause} }

// ErrCheckpointMoved is what a checkpoint write returns when the stored
// checkpoint is no longer the one the writer started from: another writer
// (a new leader, or an earlier write whose commit was reported failed but
// happened) moved it. The transaction it was part of changes nothing.
var ErrCheckpointMoved = errors.New("checkpoint moved by another writer")

// ErrFenced is what a write made as leader returns when the writer's
// leadership term has ended (another instance took the lease over, or it
// expired): the store refused it and wrote nothing. It is returned wrapped;
// the writer must stop acting as leader.
var ErrFenced = errors.New("leadership term ended: write refused")

// ErrOutOfOrder is what a relay's publish returns when the destination
// refused it because it does not continue what the destination holds:
// another publisher moved the destination on, or this one's view of it is
// stale. Nothing was published; the relay must learn the destination's
// state again (see Resumer) before it publishes more.
var ErrOutOfOrder = errors.New("publish refused: the destination does not end where the publisher expected")
