package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ticketd/ticketd/domain"
)

// Record is one committed event as the log holds it. Its JSON encoding is the
// event representation of the HTTP API, of exports and of published messages.
type Record struct {
	// Position is the event's place in the global log: gap-free, from 1, in commit order.
	Position int64
	ID       string
	StreamID string
	// Version is the event's number within its stream, from 1.
	Version    int64
	Type       string
	OccurredAt time.Time
	Data       json.RawMessage
	Metadata   json.RawMessage
	// PrevHash is the Hash of the previous event (GenesisHash for the first);
	// Hash chains this event to it, see ComputeHash.
	PrevHash string
	Hash     string
}

type recordJSON struct {
	Position   int64           `json:"position"`
	ID         string          `json:"id"`
	StreamID   string          `json:"stream_id"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

func (r Record) jsonForm() recordJSON {
	return recordJSON{
		Position:   r.Position,
		ID:         r.ID,
		StreamID:   r.StreamID,
		Version:    r.Version,
		Type:       r.Type,
		OccurredAt: domain.FormatTime(r.OccurredAt),
		Data:       r.Data,
		Metadata:   r.Metadata,
		PrevHash:   r.PrevHash,
		Hash:       r.Hash,
	}
}

// MarshalJSON encodes r with its time in domain.TimeLayout.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(r.jsonForm())
}

// RecordEncoder writes records as JSON lines that keep data and metadata
// byte for byte as stored (no HTML escaping), so an export re-imports with
// identical hashes.
type RecordEncoder struct{ enc *json.Encoder }

// NewRecordEncoder returns an encoder writing one record per line to w.
func NewRecordEncoder(w io.Writer) *RecordEncoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &RecordEncoder{enc: enc}
}

// Encode writes r and a newline; it returns w's error.
func (e *RecordEncoder) Encode(r Record) error { return e.enc.Encode(r.jsonForm()) }

// UnmarshalJSON decodes the encoding MarshalJSON and RecordEncoder produce.
// It gives the record in the form the log stores, which every encoding keeps:
// occurred_at in UTC at microsecond resolution, data and metadata as
// json.Marshal writes them (compact, HTML characters escaped). So encoding a
// decoded record and decoding that gives the same record, and an exported
// record hashes the same on import. It fails when occurred_at is not a time
// the log can hold, or data or metadata is missing or not a JSON object.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	at, err := domain.ParseTime(j.OccurredAt)
	if err != nil {
		return fmt.Errorf("occurred_at: %w", err)
	}
	data, err := canonicalObject(j.Data)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	metadata, err := canonicalObject(j.Metadata)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	*r = Record{
		Position: j.Position, ID: j.ID, StreamID: j.StreamID, Version: j.Version,
		Type: j.Type, OccurredAt: at, Data: data, Metadata: metadata,
		PrevHash: j.PrevHash, Hash: j.Hash,
	}
	return nil
}

// canonicalObject returns the JSON object raw as json.Marshal writes it;
// it fails when raw is missing or not an object.
func canonicalObject(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("must be a JSON object")
	}
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes(), nil
}

// Event decodes the record's data into its domain event.
func (r Record) Event() (domain.Event, error) {
	return domain.DecodeEvent(r.Type, r.Data)
}

// Metadata ties an event to the request that caused it. The same metadata is
// stored on every event of one append.
type Metadata struct {
	RequestID      string `json:"request_id,omitempty"`
	CorrelationID  string `json:"correlation_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Traceparent and Tracestate are the W3C trace context of the request
	// that appended the event, so consumers continue its trace.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
}

// Fold folds the records of one stream, oldest first, into a ticket.
// It fails when a record's data cannot be decoded.
func Fold(records []Record) (domain.Ticket, error) {
	var t domain.Ticket
	for _, r := range records {
		e, err := r.Event()
		if err != nil {
			return domain.Ticket{}, fmt.Errorf("event at position %d: %w", r.Position, err)
		}
		t = domain.Evolve(t, r.StreamID, e, r.OccurredAt)
	}
	return t, nil
}
