package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// BrokenHeadError reports that the log's last event, the one the next
// event must chain from, has no usable stored hash: it is NULL, not a
// SHA-256 in lowercase hex, or (SQLite) the event is gone. Only a change
// made to the database outside ticketd causes it. Appending after it would
// chain the log from a value that proves nothing, so every engine refuses
// appends while it lasts: it is a CodeUnavailable error for users, and
// appends resume once the hash is repaired.
type BrokenHeadError struct {
	Position int64
	// Fault says what is wrong with the event at Position.
	Fault string
}

func (e *BrokenHeadError) Error() string {
	return fmt.Sprintf("the event log's head, the event at position %d, %s: appends stop until it is repaired; run `ticketd verify` to find what was changed", e.Position, e.Fault)
}

// errBrokenHead is what users see of a BrokenHeadError.
var errBrokenHead = domain.Errorf(domain.CodeUnavailable, "The event log failed its integrity check; commands are refused until an operator repairs it.")

func (e *BrokenHeadError) Unwrap() error { return errBrokenHead }

// CheckHeadHash returns nil when hash, as stored for the log's last event
// at position (nil for SQL NULL), is one the next event can chain from,
// else a *BrokenHeadError naming the fault. An empty log (position 0)
// always passes.
func CheckHeadHash(position int64, hash *string) error {
	switch {
	case position == 0:
		return nil
	case hash == nil:
		return &BrokenHeadError{Position: position, Fault: "has a NULL stored hash"}
	case !IsHash(*hash):
		return &BrokenHeadError{Position: position, Fault: fmt.Sprintf("has the stored hash %q, not 64 lowercase hex digits", *hash)}
	}
	return nil
}

// HeadAlarm logs the moments appends stop at a broken head and resume, once
// each, however many group commits fail meanwhile. The zero value is ready;
// it is safe for concurrent use.
type HeadAlarm struct {
	mu     sync.Mutex
	broken bool
}

// Note takes the outcome of one group commit on the database db names (for
// log lines, its password redacted): an error wrapping a *BrokenHeadError
// starts an alarm, logged at ERROR with the position and the command that
// finds the change; nil ends one. Other errors change nothing.
func (a *HeadAlarm) Note(logger *slog.Logger, db string, err error) {
	var broken *BrokenHeadError
	isBroken := errors.As(err, &broken)
	if err != nil && !isBroken {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case isBroken && !a.broken:
		logger.Error("event log head is broken: appends stop; run `ticketd verify` to find what was changed, then repair the hash",
			"db", db, "position", broken.Position, "fault", broken.Fault, "command", "ticketd verify --db "+db)
	case !isBroken && a.broken:
		logger.Info("event log head repaired: appends resume", "db", db)
	}
	a.broken = isBroken
}
