package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/ticketd/ticketd/eventstore"
)

// RelayTopic is the topic the suite's relays publish to.
const RelayTopic = "ticketing.events"

// runRelay starts a relay named name on s publishing to pub and returns a
// function that stops it and waits for it to exit.
func runRelay(t *testing.T, s eventstore.RelayLog, pub message.Publisher, name string) (*eventstore.Relay, func()) {
	t.Helper()
	return runRelayWith(t, s, pub, eventstore.RelayConfig{Name: name})
}

// runRelayWith is runRelay with cfg, whose topic, batch size (7) and
// backoff it sets.
func runRelayWith(t *testing.T, s eventstore.RelayLog, pub message.Publisher, cfg eventstore.RelayConfig) (*eventstore.Relay, func()) {
	t.Helper()
	cfg.Topic, cfg.BatchSize, cfg.MaxBackoff = RelayTopic, 7, 20*time.Millisecond
	relay, err := eventstore.NewRelay(s, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	return relay, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// SubscribedGoChannel returns a GoChannel that blocks publishers until
// acknowledged, closed when t ends, and a subscription to RelayTopic on it.
func SubscribedGoChannel(t *testing.T) (*gochannel.GoChannel, <-chan *message.Message) {
	t.Helper()
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	t.Cleanup(func() { pubsub.Close() })
	msgs, err := pubsub.Subscribe(context.Background(), RelayTopic)
	if err != nil {
		t.Fatal(err)
	}
	return pubsub, msgs
}

func receive(t *testing.T, msgs <-chan *message.Message, n int) []eventstore.Record {
	t.Helper()
	var got []eventstore.Record
	for len(got) < n {
		select {
		case msg := <-msgs:
			rec, err := eventstore.RecordFromMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			if msg.UUID != rec.ID || msg.Metadata.Get(eventstore.MessageType) != rec.Type ||
				msg.Metadata.Get(eventstore.MessageStreamID) != rec.StreamID || msg.Metadata.Get(eventstore.MessageCorrelationID) != "corr-1" {
				t.Fatalf("message %s does not describe its event: %v", msg.UUID, msg.Metadata)
			}
			msg.Ack()
			got = append(got, rec)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	return got
}

func (st suite) testRelayPublishesCommittedEventsInOrderAndResumes(t *testing.T) {
	s, _ := st.open(t, Options{})
	ctx := context.Background()
	pubsub, msgs := SubscribedGoChannel(t)
	for i := 0; i < 10; i++ {
		if _, err := s.Append(ctx, IssueRequest(NewStream(), NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	relay, stop := runRelay(t, s, pubsub, "relay:test")
	got := receive(t, msgs, 20)
	for i, r := range got {
		if r.Position != int64(i+1) {
			t.Fatalf("message %d carries position %d", i, r.Position)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for relay.Position() != 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	if cp, err := s.Checkpoint(ctx, "relay:test"); err != nil || cp != 20 {
		t.Fatalf("checkpoint = %d, %v", cp, err)
	}

	// Restarted, the relay continues after its checkpoint: no repeats.
	if _, err := s.Append(ctx, IssueRequest(NewStream())); err != nil {
		t.Fatal(err)
	}
	_, stop = runRelay(t, s, pubsub, "relay:test")
	defer stop()
	if next := receive(t, msgs, 1); next[0].Position != 21 {
		t.Fatalf("after restart got position %d, want 21", next[0].Position)
	}
}

func (st suite) testBatchedRelayPublishesEachRoundAsOneMessage(t *testing.T) {
	s, _ := st.open(t, Options{})
	ctx := context.Background()
	pubsub, msgs := SubscribedGoChannel(t)
	for range 10 {
		if _, err := s.Append(ctx, IssueRequest(NewStream(), NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	_, stop := runRelayWith(t, s, pubsub, eventstore.RelayConfig{Name: "relay:batched", Batched: true})
	var want int64 = 1
	for want <= 20 {
		select {
		case msg := <-msgs:
			records, err := eventstore.RecordsFromBatchMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			last := want + int64(len(records)) - 1
			if len(records) == 0 || len(records) > 7 || msg.Metadata.Get(eventstore.MessageFirstPosition) != strconv.FormatInt(want, 10) ||
				msg.Metadata.Get(eventstore.MessagePosition) != strconv.FormatInt(last, 10) {
				t.Fatalf("message %s carries %d events, metadata %v; want up to 7 from position %d", msg.UUID, len(records), msg.Metadata, want)
			}
			for i, r := range records {
				if r.Position != want+int64(i) || r.Hash == "" || len(r.Data) == 0 {
					t.Fatalf("event %d of the message from %d: %+v", i, want, r)
				}
			}
			msg.Ack()
			want = last + 1
		case <-time.After(10 * time.Second):
			t.Fatalf("received events up to %d of 20", want-1)
		}
	}
	stop()
	if cp, err := s.Checkpoint(ctx, "relay:batched"); err != nil || cp != 20 {
		t.Fatalf("checkpoint = %d, %v; want 20", cp, err)
	}
}

// flakyPublisher fails every publish while down is set.
type flakyPublisher struct {
	message.Publisher
	mu   sync.Mutex
	down bool
}

func (p *flakyPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		return errors.New("broker unreachable")
	}
	return p.Publisher.Publish(topic, msgs...)
}

func (st suite) testRelayRetriesUntilThePublisherRecovers(t *testing.T) {
	s, _ := st.open(t, Options{})
	ctx := context.Background()
	pubsub, msgs := SubscribedGoChannel(t)
	flaky := &flakyPublisher{Publisher: pubsub, down: true}
	_, stop := runRelay(t, s, flaky, "relay:flaky")
	defer stop()
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	got := receive(t, msgs, 3)
	for i, r := range got {
		if r.Position != int64(i+1) {
			t.Fatalf("got position %d at %d: lost or reordered while the publisher was down", r.Position, i)
		}
	}
}

func (st suite) testCheckpointsMoveByCompareAndSet(t *testing.T) {
	s, _ := st.open(t, Options{})
	ctx := context.Background()
	move := func(prev, pos int64, want error) {
		t.Helper()
		if err := s.MoveCheckpoint(ctx, "relay:cas", prev, pos); !errors.Is(err, want) {
			t.Fatalf("MoveCheckpoint(%d → %d) = %v, want %v", prev, pos, err, want)
		}
	}
	move(3, 5, eventstore.ErrCheckpointMoved) // none stored is 0
	move(0, 5, nil)
	move(0, 7, eventstore.ErrCheckpointMoved)
	move(4, 2, eventstore.ErrCheckpointMoved) // a stale writer cannot move it back
	move(5, 5, nil)                           // confirmed
	move(5, 9, nil)
	if cp, err := s.Checkpoint(ctx, "relay:cas"); err != nil || cp != 9 {
		t.Fatalf("checkpoint = %d, %v; want 9", cp, err)
	}
}

// A relay whose checkpoint another writer moved on (a newer leader's relay)
// stops at its next save with ErrCheckpointMoved, and the checkpoint stays
// where the other writer left it.
func (st suite) testRelayNeverMovesItsCheckpointBack(t *testing.T) {
	s, _ := st.open(t, Options{})
	ctx := context.Background()
	for range 5 {
		if _, err := s.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	pubsub, msgs := SubscribedGoChannel(t)
	relay, err := eventstore.NewRelay(s, pubsub, eventstore.RelayConfig{Name: "relay:stale", Topic: RelayTopic, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	receive(t, msgs, 5)
	if err := s.MoveCheckpoint(ctx, "relay:stale", 0, 40); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, eventstore.ErrCheckpointMoved) {
		t.Fatalf("stopped relay returned %v, want ErrCheckpointMoved", err)
	}
	if cp, err := s.Checkpoint(ctx, "relay:stale"); err != nil || cp != 40 {
		t.Fatalf("checkpoint = %d, %v; want 40, as the other writer left it", cp, err)
	}
}
