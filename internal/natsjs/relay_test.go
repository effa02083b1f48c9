package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
	"github.com/ticketd/ticketd/internal/natsjs"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// pausedPublisher holds every publish of a position above after until
// resume is closed, as a relay's process paused there (SIGSTOP, a long
// stall) would, then publishes through the real publisher.
type pausedPublisher struct {
	*natsjs.Publisher
	after  int64
	resume chan struct{}
}

func (p *pausedPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		if pos, _ := strconv.ParseInt(msg.Metadata.Get(eventstore.MessagePosition), 10, 64); pos > p.after {
			<-p.resume
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}

// TestAStaleRelayCannotPublishOutOfOrderNorMoveItsCheckpointBack runs the
// NATS relay of two leaders of one PostgreSQL database in turn: the first
// is paused in the middle of a publish while its lease expires and the
// second takes over, publishes on and stores its checkpoint. Woken up, the
// first one's publish is refused by JetStream, its checkpoint write by the
// lease's fence, and it stops: the stream holds each position once, in
// order, and the checkpoint stays the second leader's.
func TestAStaleRelayCannotPublishOutOfOrderNorMoveItsCheckpointBack(t *testing.T) {
	t.Parallel()
	server, stream, subject, js := testStream(t)
	db := pgtest.FreshDatabase(t)
	ctx := context.Background()
	open := func(name string) (*postgres.Store, eventstore.Lease) {
		s, err := postgres.Open(ctx, db, postgres.Options{Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		l, err := s.LeaderLease(eventstore.LeaseOptions{Holder: name, Length: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s, l
	}
	a, leaseA := open("a")
	b, leaseB := open("b")
	appendEvents := func(n int) {
		for range n {
			if _, err := a.Append(ctx, storetest.IssueRequest(storetest.NewStream())); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(s *postgres.Store, pub message.Publisher) (<-chan error, func() error) {
		relay, err := eventstore.NewRelay(s, pub, eventstore.RelayConfig{Name: "relay:nats", Topic: subject + ".events",
			BatchSize: 2, CheckpointInterval: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- relay.Run(runCtx) }()
		t.Cleanup(cancel)
		return done, func() error { cancel(); return <-done }
	}
	waitCheckpoint := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cp, err := b.Checkpoint(ctx, "relay:nats")
			if err == nil && cp == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("relay checkpoint %d (%v), want %d", cp, err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	renew := func(l eventstore.Lease) (stop func()) { // as its leader does
		quit, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				case <-time.After(100 * time.Millisecond):
					if err := l.Renew(ctx); err != nil {
						t.Errorf("renewal: %v", err)
						return
					}
				}
			}
		}()
		var once sync.Once
		stop = func() { once.Do(func() { close(quit) }); <-done }
		t.Cleanup(stop)
		return stop
	}
	cfg := natsjs.Config{URL: server, Stream: stream, Subjects: []string{subject + ".>"}, DuplicateWindow: 100 * time.Millisecond}

	appendEvents(10)
	if taken, err := leaseA.TryAcquire(ctx); err != nil || !taken {
		t.Fatalf("a's lease: %v, %v", taken, err)
	}
	paused := &pausedPublisher{Publisher: mustPublisher(t, cfg), after: 10, resume: make(chan struct{})}
	stopRenewingA := renew(leaseA)
	doneA, _ := run(a, paused)
	waitCheckpoint(10)
	appendEvents(10) // a's relay pauses at position 11, and so does a
	stopRenewingA()

	deadline := time.Now().Add(10 * time.Second)
	for taken := false; !taken; {
		var err error
		if taken, err = leaseB.TryAcquire(ctx); err != nil || !taken && time.Now().After(deadline) {
			t.Fatalf("b never took a's expired lease: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	renew(leaseB)
	_, stopB := run(b, mustPublisher(t, cfg))
	waitCheckpoint(20)
	appendEvents(10)
	waitCheckpoint(30)
	time.Sleep(150 * time.Millisecond) // past the stream's duplicate window

	close(paused.resume)
	select {
	case err := <-doneA:
		if !errors.Is(err, eventstore.ErrFenced) {
			t.Fatalf("the stale relay stopped with %v, want ErrFenced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stale relay did not stop within 10s of waking up")
	}
	waitCheckpoint(30)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for pos := 1; pos <= 30; pos++ {
		want = append(want, fmt.Sprint(pos))
	}
	if got := strings.Join(storedPositions(t, js, stream), " "); got != strings.Join(want, " ") {
		t.Fatalf("stream holds positions %s, want 1 to 30 once each, in order", got)
	}
}
