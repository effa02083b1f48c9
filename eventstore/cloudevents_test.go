package eventstore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/extensions"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

func TestCloudEventEnvelopeCarriesTheWholeEvent(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx := context.Background()
	stream := storetest.NewStream()
	req := storetest.IssueRequest(stream)
	req.Metadata.IdempotencyKey = "key-<1>&"
	req.Metadata.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Metadata.Tracestate = "vendor=x"
	req.Streams[0].Events = []domain.Event{domain.TicketIssued{TheaterName: "CGV <강남> & co", UserID: "u", MovieTitle: "m", PriceKRW: 1}}
	if _, err := s.Append(ctx, req); err != nil {
		t.Fatal(err)
	}
	refund := storetest.RefundRequest(stream, 1)
	refund.Metadata.Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	if _, err := s.Append(ctx, refund); err != nil {
		t.Fatal(err)
	}
	encode := eventstore.CloudEventEncoder("urn:ticketd:test")
	for _, rec := range storetest.ReadAll(t, s) {
		var md eventstore.Metadata
		if err := json.Unmarshal(rec.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		msg, err := encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if msg.UUID != rec.ID || msg.Metadata.Get(eventstore.MessageContentType) != eventstore.CloudEventsContentType ||
			msg.Metadata.Get(eventstore.MessagePosition) != strconv.FormatInt(rec.Position, 10) || msg.Metadata.Get(eventstore.MessageCorrelationID) != md.CorrelationID {
			t.Fatalf("message of position %d: uuid %s metadata %v", rec.Position, msg.UUID, msg.Metadata)
		}
		var envelope map[string]any
		if err := json.Unmarshal(msg.Payload, &envelope); err != nil {
			t.Fatal(err)
		}
		for attr, want := range map[string]any{
			"specversion": "1.0", "id": rec.ID, "source": "urn:ticketd:test", "type": rec.Type, "subject": rec.StreamID,
			"time": rec.OccurredAt.Format(time.RFC3339Nano), "datacontenttype": "application/json",
			"position": strconv.FormatInt(rec.Position, 10), "streamversion": strconv.FormatInt(rec.Version, 10), "hash": rec.Hash, "prevhash": rec.PrevHash,
			"traceparent": md.Traceparent, "tracestate": nilIfEmpty(md.Tracestate),
		} {
			if envelope[attr] != want {
				t.Errorf("position %d: %s = %v, want %v", rec.Position, attr, envelope[attr], want)
			}
		}
		if !strings.Contains(string(msg.Payload), `"data":`+string(rec.Data)) {
			t.Errorf("position %d: data is not the stored bytes %s: %s", rec.Position, rec.Data, msg.Payload)
		}
		back, err := eventstore.RecordFromCloudEvent(msg.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !back.OccurredAt.Equal(rec.OccurredAt) || back.ComputeHash() != rec.Hash {
			t.Fatalf("position %d does not rebuild to an event that verifies: %+v", rec.Position, back)
		}
		back.OccurredAt = rec.OccurredAt
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("rebuilt\n%+v\nwant\n%+v", back, rec)
		}
	}
	for _, bad := range []string{`{}`, `[]`, `{"specversion":"1.0","id":"x","position":1,"time":"yesterday"}`} {
		if _, err := eventstore.RecordFromCloudEvent([]byte(bad)); err == nil {
			t.Errorf("RecordFromCloudEvent(%s) did not fail", bad)
		}
	}
}

func TestRelayPublishesEachEventToItsTopicWithItsEncoding(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx := context.Background()
	pubsub, _ := storetest.SubscribedGoChannel(t)
	refundedMsgs, err := pubsub.Subscribe(ctx, "events.TicketRefunded")
	if err != nil {
		t.Fatal(err)
	}
	issuedMsgs, err := pubsub.Subscribe(ctx, "events.TicketIssued")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := eventstore.NewRelay(s, pubsub, eventstore.RelayConfig{
		Name:     "relay:topics",
		TopicFor: func(rec eventstore.Record) string { return "events." + rec.Type },
		Encode:   eventstore.CloudEventEncoder("urn:test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	defer func() {
		cancel()
		pubsub.Close() // releases a publish that waits for an ack
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	stream := storetest.NewStream()
	if _, err := s.Append(ctx, storetest.IssueRequest(stream)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, storetest.RefundRequest(stream, 1)); err != nil {
		t.Fatal(err)
	}
	for want, msgs := range []<-chan *message.Message{issuedMsgs, refundedMsgs} {
		want := int64(want + 1)
		select {
		case msg := <-msgs:
			rec, err := eventstore.RecordFromCloudEvent(msg.Payload)
			if err != nil || rec.Position != want {
				t.Fatalf("got position %d (%v), want %d", rec.Position, err, want)
			}
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("position %d was not published to its topic", want)
		}
	}
}

// An SDK consumer decodes every ticketd CloudEvent, also one whose position
// is beyond the SDK's 32-bit Integer: position and streamversion are strings.
// It sees the event's attributes, extensions and data as ticketd sent them.
func TestCloudEventPositionBeyondInt32DecodesWithTheSDK(t *testing.T) {
	t.Parallel()
	rec := eventstore.Record{
		Position: 3_000_000_000, ID: "0193a5b2-7c1f-7000-8a00-0c0ffee00001", StreamID: "0193a5b2-7c1e-7d3a-9f10-2b3c4d5e6f70",
		Version: 2_500_000_000, Type: "TicketRefunded", OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
		Data:     json.RawMessage(`{"reason":"x"}`),
		Metadata: json.RawMessage(`{"request_id":"r","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"v=x"}`),
		PrevHash: eventstore.GenesisHash,
	}
	rec.Hash = rec.ComputeHash()
	msg, err := eventstore.CloudEventEncoder("urn:test")(rec)
	if err != nil {
		t.Fatal(err)
	}
	var ev cloudevents.Event
	if err := json.Unmarshal(msg.Payload, &ev); err != nil {
		t.Fatalf("the SDK cannot decode the envelope: %v\n%s", err, msg.Payload)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.ID() != rec.ID || ev.Source() != "urn:test" || ev.Type() != rec.Type || ev.Subject() != rec.StreamID ||
		!ev.Time().Equal(rec.OccurredAt) || ev.DataContentType() != "application/json" || string(ev.Data()) != string(rec.Data) {
		t.Errorf("the SDK reads %v; want the event %+v", ev, rec)
	}
	for name, want := range map[string]string{"position": "3000000000", "streamversion": "2500000000", "prevhash": rec.PrevHash, "hash": rec.Hash,
		"requestid": "r", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "v=x"} {
		if got, err := types.ToString(ev.Extensions()[name]); err != nil || got != want {
			t.Errorf("extension %s = %q (%v), want %q", name, got, err, want)
		}
	}
	if trace, ok := extensions.GetDistributedTracingExtension(ev); !ok || trace.TraceParent == "" {
		t.Errorf("the SDK finds no distributed tracing extension in %s", msg.Payload)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// mustOpenStore opens a SQLite store on a fresh file, closed when t ends.
func mustOpenStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The envelope is byte for byte the one the CloudEvents Go SDK writes for
// the same event, so consumers of the SDK's output see no difference.
func TestCloudEventEnvelopeIsTheSDKsBytes(t *testing.T) {
	t.Parallel()
	for _, md := range []eventstore.Metadata{
		{RequestID: "r"},
		{RequestID: "r<&>", CorrelationID: "c", IdempotencyKey: "k<1>&\u2028é", Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Tracestate: "v=x"},
		{Tracestate: "v=x"},
	} {
		mdJSON, _ := json.Marshal(md)
		rec := eventstore.Record{Position: 3_000_000_000, ID: "0193a5b2-7c1f-7000-8a00-0c0ffee00001", StreamID: "0193a5b2-7c1e-7d3a-9f10-2b3c4d5e6f70",
			Version: 2, Type: "TicketIssued", OccurredAt: time.Date(2026, 11, 25, 19, 0, 0, 120000000, time.FixedZone("KST", 9*3600)),
			Data: json.RawMessage(`{"theater_name":"CGV \u003c강남\u003e","memo":null}`), Metadata: mdJSON, PrevHash: eventstore.GenesisHash, Hash: "h"}
		msg, err := eventstore.CloudEventEncoder("urn:ticketd")(rec)
		if err != nil {
			t.Fatal(err)
		}
		ev := cloudevents.New()
		ev.SetID(rec.ID)
		ev.SetSource("urn:ticketd")
		ev.SetType(rec.Type)
		ev.SetSubject(rec.StreamID)
		ev.SetTime(rec.OccurredAt)
		ev.DataEncoded = rec.Data
		ev.SetDataContentType(cloudevents.ApplicationJSON)
		for name, value := range map[string]string{"position": "3000000000", "streamversion": "2", "prevhash": rec.PrevHash, "hash": rec.Hash,
			"requestid": md.RequestID, "correlationid": md.CorrelationID, "idempotencykey": md.IdempotencyKey} {
			if value != "" || name == "hash" || name == "prevhash" {
				ev.SetExtension(name, value)
			}
		}
		extensions.DistributedTracingExtension{TraceParent: md.Traceparent, TraceState: md.Tracestate}.AddTracingAttributes(&ev)
		sdk, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(msg.Payload) != string(sdk) {
			t.Errorf("envelope\n%s\nthe SDK writes\n%s", msg.Payload, sdk)
		}
	}
}
