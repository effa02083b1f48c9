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
	req.Streams[0].Events = []domain.Event{domain.TicketIssued{TheaterName: "CGV <강남> & co", UserID: "u", MovieTitle: "m", PriceKRW: 1}}
	if _, err := s.Append(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, storetest.RefundRequest(stream, 1)); err != nil {
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
			"time": domain.FormatTime(rec.OccurredAt), "datacontenttype": "application/json",
			"position": float64(rec.Position), "streamversion": float64(rec.Version), "hash": rec.Hash, "prevhash": rec.PrevHash,
		} {
			if envelope[attr] != want {
				t.Errorf("position %d: %s = %v, want %v", rec.Position, attr, envelope[attr], want)
			}
		}
		if !strings.Contains(string(msg.Payload), `"data":`+string(rec.Data)+`,`) {
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
