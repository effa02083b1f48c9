package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/domain"
)

// CloudEventsContentType is the media type of a CloudEvents envelope in
// structured mode; encoded messages carry it in the metadata key
// MessageContentType.
const CloudEventsContentType = "application/cloudevents+json"

// MessageContentType is the metadata key of a message's payload media type.
const MessageContentType = "Content-Type"

// CloudEvent is the CloudEvents 1.0 JSON envelope of a committed event.
//
// The context attributes map the event as follows: id is the event id, type
// its type (TicketIssued, TicketRefunded: the same name as in the event JSON
// and the SSE event field), subject its stream (the ticket id), time its
// occurred_at, data its data verbatim. Extension attributes carry the rest
// of the event, so that Record rebuilds it exactly: position (the gap-free
// log position; consumers order and dedupe by it), streamversion, prevhash,
// hash, and requestid, correlationid and idempotencykey from its metadata
// (each left out when empty).
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	Position        int64           `json:"position"`
	StreamVersion   int64           `json:"streamversion"`
	PrevHash        string          `json:"prevhash"`
	Hash            string          `json:"hash"`
	RequestID       string          `json:"requestid,omitempty"`
	CorrelationID   string          `json:"correlationid,omitempty"`
	IdempotencyKey  string          `json:"idempotencykey,omitempty"`
}

// NewCloudEvent returns the envelope of rec with the given source (a URI
// reference naming the producer, such as "urn:ticketd"). It fails when rec's
// metadata is not the JSON of Metadata.
func NewCloudEvent(rec Record, source string) (CloudEvent, error) {
	var md Metadata
	if err := json.Unmarshal(rec.Metadata, &md); err != nil {
		return CloudEvent{}, fmt.Errorf("event %d: metadata: %w", rec.Position, err)
	}
	return CloudEvent{
		SpecVersion:     "1.0",
		ID:              rec.ID,
		Source:          source,
		Type:            rec.Type,
		Subject:         rec.StreamID,
		Time:            domain.FormatTime(rec.OccurredAt),
		DataContentType: "application/json",
		Data:            rec.Data,
		Position:        rec.Position,
		StreamVersion:   rec.Version,
		PrevHash:        rec.PrevHash,
		Hash:            rec.Hash,
		RequestID:       md.RequestID,
		CorrelationID:   md.CorrelationID,
		IdempotencyKey:  md.IdempotencyKey,
	}, nil
}

// Record returns the event e carries. Its hash verifies (see ComputeHash)
// when the event's stored metadata was written by ticketd, as all is.
// It fails when time is not in domain.TimeLayout or metadata cannot be
// encoded.
func (e CloudEvent) Record() (Record, error) {
	at, err := domain.ParseTime(e.Time)
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: time: %w", e.ID, err)
	}
	md, err := json.Marshal(Metadata{RequestID: e.RequestID, CorrelationID: e.CorrelationID, IdempotencyKey: e.IdempotencyKey})
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: metadata: %w", e.ID, err)
	}
	return Record{
		Position: e.Position, ID: e.ID, StreamID: e.Subject, Version: e.StreamVersion, Type: e.Type,
		OccurredAt: at, Data: e.Data, Metadata: md, PrevHash: e.PrevHash, Hash: e.Hash,
	}, nil
}

// CloudEventEncoder returns a RelayConfig.Encode that publishes each event
// as its CloudEvent envelope (source as in NewCloudEvent), keeping the
// metadata of NewMessage and adding MessageContentType.
func CloudEventEncoder(source string) func(Record) (*message.Message, error) {
	return func(rec Record) (*message.Message, error) {
		ce, err := NewCloudEvent(rec, source)
		if err != nil {
			return nil, err
		}
		var payload bytes.Buffer
		enc := json.NewEncoder(&payload)
		enc.SetEscapeHTML(false) // data stays byte for byte as stored
		if err := enc.Encode(ce); err != nil {
			return nil, fmt.Errorf("encode event %d: %w", rec.Position, err)
		}
		msg := newMessage(rec, bytes.TrimSuffix(payload.Bytes(), []byte("\n")))
		msg.Metadata.Set(MessageContentType, CloudEventsContentType)
		return msg, nil
	}
}

// RecordFromCloudEvent decodes an envelope CloudEventEncoder produced. It
// fails when payload is not one.
func RecordFromCloudEvent(payload []byte) (Record, error) {
	var ce CloudEvent
	if err := json.Unmarshal(payload, &ce); err != nil {
		return Record{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	if ce.SpecVersion != "1.0" || ce.ID == "" || ce.Position < 1 {
		return Record{}, fmt.Errorf("decode cloudevent: not a ticketd event envelope (specversion %q, id %q, position %d)", ce.SpecVersion, ce.ID, ce.Position)
	}
	return ce.Record()
}
