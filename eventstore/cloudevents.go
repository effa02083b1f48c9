package eventstore

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/extensions"
	"github.com/cloudevents/sdk-go/v2/types"
)

// CloudEventsContentType is the media type of a CloudEvents envelope in
// structured mode; encoded messages carry it in the metadata key
// MessageContentType.
const CloudEventsContentType = "application/cloudevents+json"

// MessageContentType is the metadata key of a message's payload media type.
const MessageContentType = "Content-Type"

// Extension attributes of a ticketd CloudEvent besides the distributed
// tracing ones (traceparent, tracestate).
const (
	extPosition       = "position"
	extStreamVersion  = "streamversion"
	extPrevHash       = "prevhash"
	extHash           = "hash"
	extRequestID      = "requestid"
	extCorrelationID  = "correlationid"
	extIdempotencyKey = "idempotencykey"
)

// NewCloudEvent returns the CloudEvents 1.0 event of rec with the given
// source (a URI reference naming the producer, such as "urn:ticketd").
//
// The context attributes map the event as follows: id is the event id, type
// its type (TicketIssued, TicketRefunded: the same name as in the event JSON
// and the SSE event field), subject its stream (the ticket id), time its
// occurred_at, data its data verbatim. Extension attributes carry the rest
// of the event, so that RecordFromEvent rebuilds it exactly: position (the
// gap-free log position; consumers order and dedupe by it) and streamversion
// as decimal strings, since the CloudEvents Integer type is 32-bit and
// positions outgrow it; prevhash and hash; requestid, correlationid and
// idempotencykey from its metadata (each left out when empty); and the
// metadata's trace context as the distributed tracing extension
// (traceparent, tracestate). It fails when rec's metadata is not the JSON of
// Metadata.
func NewCloudEvent(rec Record, source string) (cloudevents.Event, error) {
	var md Metadata
	if err := json.Unmarshal(rec.Metadata, &md); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event %d: metadata: %w", rec.Position, err)
	}
	ev := cloudevents.New()
	ev.SetID(rec.ID)
	ev.SetSource(source)
	ev.SetType(rec.Type)
	ev.SetSubject(rec.StreamID)
	ev.SetTime(rec.OccurredAt)
	ev.DataEncoded = rec.Data
	ev.SetDataContentType(cloudevents.ApplicationJSON)
	ev.SetExtension(extPosition, strconv.FormatInt(rec.Position, 10))
	ev.SetExtension(extStreamVersion, strconv.FormatInt(rec.Version, 10))
	ev.SetExtension(extPrevHash, rec.PrevHash)
	ev.SetExtension(extHash, rec.Hash)
	for name, value := range map[string]string{extRequestID: md.RequestID, extCorrelationID: md.CorrelationID, extIdempotencyKey: md.IdempotencyKey} {
		if value != "" {
			ev.SetExtension(name, value)
		}
	}
	extensions.DistributedTracingExtension{TraceParent: md.Traceparent, TraceState: md.Tracestate}.AddTracingAttributes(&ev)
	return ev, nil
}

// RecordFromEvent returns the event ev carries. Its hash verifies (see
// ComputeHash) when the event's stored metadata was written by ticketd, as
// all is. It fails when ev is not the CloudEvent of a ticketd event.
func RecordFromEvent(ev cloudevents.Event) (Record, error) {
	if err := ev.Validate(); err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: %w", ev.ID(), err)
	}
	text := func(name string) string {
		s, _ := types.ToString(ev.Extensions()[name])
		return s
	}
	pos, err := strconv.ParseInt(text(extPosition), 10, 64)
	if err != nil || pos < 1 {
		return Record{}, fmt.Errorf("cloudevent %s: not a ticketd event: position %q", ev.ID(), text(extPosition))
	}
	version, err := strconv.ParseInt(text(extStreamVersion), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: not a ticketd event: streamversion %q", ev.ID(), text(extStreamVersion))
	}
	trace, _ := extensions.GetDistributedTracingExtension(ev)
	md, err := json.Marshal(Metadata{RequestID: text(extRequestID), CorrelationID: text(extCorrelationID),
		IdempotencyKey: text(extIdempotencyKey), Traceparent: trace.TraceParent, Tracestate: trace.TraceState})
	if err != nil {
		return Record{}, fmt.Errorf("cloudevent %s: metadata: %w", ev.ID(), err)
	}
	return Record{
		Position: pos, ID: ev.ID(), StreamID: ev.Subject(), Version: version, Type: ev.Type(),
		OccurredAt: ev.Time().UTC(), Data: ev.Data(), Metadata: md, PrevHash: text(extPrevHash), Hash: text(extHash),
	}, nil
}

// CloudEventEncoder returns a RelayConfig.Encode that publishes each event
// as its CloudEvent (source as in NewCloudEvent) in structured mode,
// keeping the metadata of NewMessage and adding MessageContentType.
func CloudEventEncoder(source string) func(Record) (*message.Message, error) {
	return func(rec Record) (*message.Message, error) {
		ev, err := NewCloudEvent(rec, source)
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
// produced. It fails when payload is not one.
func RecordFromCloudEvent(payload []byte) (Record, error) {
	var ev cloudevents.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Record{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	return RecordFromEvent(ev)
}
