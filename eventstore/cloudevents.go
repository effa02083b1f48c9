package eventstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// CloudEventsContentType is the media type of a CloudEvents envelope in
// structured mode; encoded messages carry it in the metadata key
// MessageContentType.
const CloudEventsContentType = "application/cloudevents+json"

// MessageContentType is the metadata key of a message's payload media type.
const MessageContentType = "Content-Type"

// cloudEvent is the CloudEvents 1.0 envelope of a ticketd event in
// structured JSON mode: the context attributes in the order the CloudEvents
// Go SDK writes them, then the extension attributes in name order, as the
// SDK writes them too, so the bytes are the ones the SDK would produce.
//
// The context attributes map the event as follows: id is the event id, type
// its type (TicketIssued, TicketRefunded: the same name as in the event JSON
// and the SSE event field), subject its stream (the ticket id), time its
// occurred_at in UTC, data its data verbatim. Extension attributes carry the
// rest of the event, so that the envelope rebuilds it exactly: position (the
// gap-free log position; consumers order and dedupe by it) and streamversion
// as decimal strings, since the CloudEvents Integer type is 32-bit and
// positions outgrow it; prevhash and hash; requestid, correlationid and
// idempotencykey from its metadata (each left out when empty); and the
// metadata's trace context as the distributed tracing extension
// (traceparent, and tracestate with it; both left out without a
// traceparent).
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Time            time.Time       `json:"time"`
	Data            json.RawMessage `json:"data,omitempty"`

	CorrelationID  string `json:"correlationid,omitempty"`
	Hash           string `json:"hash"`
	IdempotencyKey string `json:"idempotencykey,omitempty"`
	Position       string `json:"position"`
	PrevHash       string `json:"prevhash"`
	RequestID      string `json:"requestid,omitempty"`
	StreamVersion  string `json:"streamversion"`
	Traceparent    string `json:"traceparent,omitempty"`
	Tracestate     string `json:"tracestate,omitempty"`
}

// cloudEventSpecVersion is the CloudEvents version of the envelopes.
const cloudEventSpecVersion = "1.0"

// newCloudEvent returns the envelope of rec with the given source (a URI
// reference naming the producer, such as "urn:ticketd"). It fails when rec's
// metadata is not the JSON of Metadata.
func newCloudEvent(rec Record, source string) (cloudEvent, error) {
	var md Metadata
	if err := json.Unmarshal(rec.Metadata, &md); err != nil {
		return cloudEvent{}, fmt.Errorf("event %d: metadata: %w", rec.Position, err)
	}
	ev := cloudEvent{
		SpecVersion: cloudEventSpecVersion, ID: rec.ID, Source: source, Type: rec.Type, Subject: rec.StreamID,
		DataContentType: "application/json", Time: rec.OccurredAt.UTC(), Data: rec.Data,
		CorrelationID: md.CorrelationID, Hash: rec.Hash, IdempotencyKey: md.IdempotencyKey,
		Position: strconv.FormatInt(rec.Position, 10), PrevHash: rec.PrevHash, RequestID: md.RequestID,
		StreamVersion: strconv.FormatInt(rec.Version, 10),
	}
	if md.Traceparent != "" {
		ev.Traceparent, ev.Tracestate = md.Traceparent, md.Tracestate
	}
	return ev, nil
}

// record returns the event ev carries. Its hash verifies (see ComputeHash)
// when the event's stored metadata was written by ticketd, as all is. It
// fails when ev is not the CloudEvent of a ticketd event.
func (ev cloudEvent) record() (Record, error) {
	if ev.SpecVersion != cloudEventSpecVersion {
		return Record{}, fmt.Errorf("cloudevent %s: specversion %q, want %s", ev.ID, ev.SpecVersion, cloudEventSpecVersion)
	}
	for _, required := range []struct{ attribute, value string }{{"id", ev.ID}, {"source", ev.Source}, {"type", ev.Type}} {
		if strings.TrimSpace(required.value) == "" {
			return Record{}, fmt.Errorf("cloudevent %s: %s must be a non-empty string", ev.ID, required.attribute)
		}
	}
	pos, err := strconv.ParseInt(ev.Position, 10, 64)
	if err != nil || pos < 1 {
		return Record{}, fmt.Errorf("cloudevent %s: not a ticketd event: position %q", ev.ID, ev.Position)
	}
	version, err := strconv.ParseInt(ev.StreamVersion, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: not a ticketd event: streamversion %q", ev.ID, ev.StreamVersion)
	}
	md := Metadata{RequestID: ev.RequestID, CorrelationID: ev.CorrelationID, IdempotencyKey: ev.IdempotencyKey, Traceparent: ev.Traceparent}
	if md.Traceparent != "" {
		md.Tracestate = ev.Tracestate
	}
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: metadata: %w", ev.ID, err)
	}
	return Record{
		Position: pos, ID: ev.ID, StreamID: ev.Subject, Version: version, Type: ev.Type,
		OccurredAt: ev.Time.UTC(), Data: ev.Data, Metadata: mdJSON, PrevHash: ev.PrevHash, Hash: ev.Hash,
	}, nil
}

// CloudEventEncoder returns a RelayConfig.Encode that publishes each event
// as its CloudEvent (see cloudEvent; source names the producer, a URI
// reference such as "urn:ticketd") in structured mode,
// keeping the metadata of NewMessage and adding MessageContentType.
func CloudEventEncoder(source string) func(Record) (*message.Message, error) {
	return func(rec Record) (*message.Message, error) {
		ev, err := newCloudEvent(rec, source)
		if err != nil {
			return nil, err
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode event %d: %w", rec.Position, err)
		}
		msg := newMessage(rec, payload)
		msg.Metadata.Set(MessageContentType, CloudEventsContentType)
		return msg, nil
	}
}

// RecordFromCloudEvent decodes a structured-mode envelope CloudEventEncoder
// produced into the event it carries (see cloudEvent.record). It fails when
// payload is not one.
func RecordFromCloudEvent(payload []byte) (Record, error) {
	var ev cloudEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Record{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	return ev.record()
}
