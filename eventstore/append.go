package eventstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/domain"
)

// StreamAppend is the part of an append that targets one stream.
type StreamAppend struct {
	StreamID string
	// ExpectedVersion is the stream's version the caller decided on; 0 means
	// the stream must not exist yet, AnyVersion that the stream may be at
	// any version.
	ExpectedVersion int64
	Events          []domain.Event
}

// AnyVersion as a StreamAppend's ExpectedVersion appends to the stream
// whatever its version, never a conflict: the writer gives the events the
// stream's next versions where appends serialize, so concurrent AnyVersion
// appends to one stream all commit with versions gap-free. It is for
// appends whose decision does not depend on the stream's events (one the
// append's claims decide, say).
const AnyVersion int64 = -1

// AppendRequest appends events to any number of streams atomically: either
// every event and the idempotency record are committed, or nothing is.
type AppendRequest struct {
	Streams  []StreamAppend
	Metadata Metadata
	// Idempotency, when set, is stored in the same transaction. If its key is
	// already stored, nothing is appended and Append fails with *KeyTakenError.
	Idempotency *IdempotencyRecord
	// Claims, Reserve, Settle and Release are decided with the append, in
	// its transaction (see Claim): when one does not hold, Append fails with
	// *LimitError, *ReservationError or *ReservationExistsError and nothing
	// is written.
	Claims  []Claim
	Reserve []Reservation
	Settle  []Settle
	Release []Release
}

// AppendResult describes a committed append.
type AppendResult struct {
	// Records are the appended events in position order.
	Records []Record
	// Position is the position of the append's last event or, for an append
	// without events, the head of the log when it committed. Read models that
	// reached it reflect the append.
	Position int64
}

// IdempotencyRecord is what a command stored under its Idempotency-Key: which
// endpoint and request it belonged to, and the response it gave.
type IdempotencyRecord struct {
	Key      string
	Endpoint string
	// Fingerprint identifies the parsed request; a retry must match it.
	Fingerprint string
	Status      int
	Body        []byte
	// Position is the log head right after the command committed; set by Append.
	Position int64
	// CreatedAt is the commit time; set by Append.
	CreatedAt time.Time
}

// CommitInfo describes one group commit attempt, for metrics.
type CommitInfo struct {
	// Appends is how many appends the commit carried; Failed how many of
	// them failed on their own (conflict, key taken).
	Appends, Failed int
	// Events counts the committed events by type; empty when Err is set.
	Events map[string]int
	Took   time.Duration
	// Err is the error of the transaction itself; every append failed.
	Err error
}

// PendingEvent is one event of an append, encoded for the log: the index in
// the request's Streams of the stream it goes to, its type and its JSON data.
type PendingEvent struct {
	Stream int
	Type   string
	Data   []byte
}

// EncodeEvents returns the events of req in order, encoded; it fails when
// its claims are malformed, a stream has no id or an expected version below
// AnyVersion, or an event does not encode as JSON.
func EncodeEvents(req AppendRequest) ([]PendingEvent, error) {
	if err := req.CheckClaims(); err != nil {
		return nil, err
	}
	var events []PendingEvent
	for i, sa := range req.Streams {
		if sa.StreamID == "" {
			return nil, fmt.Errorf("append: stream %d has no id", i)
		}
		if sa.ExpectedVersion < AnyVersion {
			return nil, fmt.Errorf("append: stream %s expects version %d", sa.StreamID, sa.ExpectedVersion)
		}
		for _, e := range sa.Events {
			data, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("append: encode %s: %w", e.EventType(), err)
			}
			events = append(events, PendingEvent{Stream: i, Type: e.EventType(), Data: data})
		}
	}
	return events, nil
}
