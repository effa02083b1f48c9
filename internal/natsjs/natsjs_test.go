package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/natsjs"
)

func mustPublisher(t *testing.T, cfg natsjs.Config) *natsjs.Publisher {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := natsjs.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPublisherStartsWithoutAServerAndFailsPublishesAtOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()
	p := mustPublisher(t, natsjs.Config{URL: "nats://" + closedPort, Stream: "S", Subjects: []string{"s.>"}})
	start := time.Now()
	if err := p.Publish("s.x", message.NewMessage(uuid.NewString(), []byte("{}"))); err == nil {
		t.Fatal("publish without a server succeeded")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("publish without a server took %s to fail", took)
	}
}

// testStream returns the NATS test server's URL and a stream name and
// subject of the test's own (the stream deleted at the end), skipping
// without TICKETD_TEST_NATS_URL, and a JetStream client.
func testStream(t *testing.T) (server, stream, subject string, js jetstream.JetStream) {
	t.Helper()
	server = os.Getenv("TICKETD_TEST_NATS_URL")
	if server == "" {
		t.Skip("TICKETD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222, a server with JetStream)")
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	stream, subject = "NATSJS_TEST_"+id, "natsjstest."+id
	nc, err := nats.Connect(server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), stream) })
	return server, stream, subject, js
}

// positioned returns a message of the event at position pos.
func positioned(pos int64) *message.Message {
	msg := message.NewMessage(uuid.NewString(), []byte(fmt.Sprintf(`{"position":%d}`, pos)))
	msg.Metadata.Set(eventstore.MessagePosition, fmt.Sprint(pos))
	return msg
}

// storedPositions returns the position header of every message stream
// holds, in stream order.
func storedPositions(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msg.Header.Get(eventstore.MessagePosition))
	}
	return got
}

func TestPublisherCreatesItsStreamAndPublishesOnlyAfterResume(t *testing.T) {
	t.Parallel()
	server, stream, subject, js := testStream(t)
	ctx := context.Background()
	p := mustPublisher(t, natsjs.Config{URL: server, Stream: stream, Subjects: []string{subject + ".>"}, DuplicateWindow: time.Minute})
	if err := p.Publish(subject+".a", positioned(1)); !errors.Is(err, eventstore.ErrOutOfOrder) {
		t.Fatalf("publish before Resume: %v, want ErrOutOfOrder", err)
	}
	if last, found, err := p.Resume(ctx); err != nil || found || last != 0 {
		t.Fatalf("Resume on a new stream = %d, %v, %v; want nothing found", last, found, err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("the publisher did not create stream %s: %v", stream, err)
	}
	if info := s.CachedInfo(); info.Config.Duplicates != time.Minute {
		t.Fatalf("stream created with a duplicate window of %s, want 1m", info.Config.Duplicates)
	}
	first := positioned(1)
	for _, msg := range []*message.Message{first, positioned(2)} {
		if err := p.Publish(subject+".a", msg); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetMsg(ctx, 1)
	if err != nil || got.Header.Get(nats.MsgIdHdr) != first.UUID || string(got.Data) != string(first.Payload) {
		t.Fatalf("message 1: %v, id %s data %s", err, got.Header.Get(nats.MsgIdHdr), got.Data)
	}
	if last, found, err := p.Resume(ctx); err != nil || !found || last != 2 {
		t.Fatalf("Resume = %d, %v, %v; want position 2", last, found, err)
	}
}

// Two publishers on one stream, as an old leader's and a new one's: the
// one that resumed last publishes; the stale one's publishes, new or
// repeated, are refused and store nothing, until it resumes too.
func TestAStalePublisherCannotReorderOrRepeatTheStream(t *testing.T) {
	t.Parallel()
	server, stream, subject, js := testStream(t)
	ctx := context.Background()
	var refused atomic.Int64
	cfg := natsjs.Config{URL: server, Stream: stream, Subjects: []string{subject + ".>"}, OnRefused: func() { refused.Add(1) }}
	stale, current := mustPublisher(t, cfg), mustPublisher(t, cfg)
	if _, _, err := stale.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	m1, m2 := positioned(1), positioned(2)
	for _, msg := range []*message.Message{m1, m2} {
		if err := stale.Publish(subject+".a", msg); err != nil {
			t.Fatal(err)
		}
	}
	if last, found, err := current.Resume(ctx); err != nil || !found || last != 2 {
		t.Fatalf("the new publisher's Resume = %d, %v, %v; want position 2", last, found, err)
	}
	if err := current.Publish(subject+".a", positioned(3)); err != nil {
		t.Fatal(err)
	}
	for what, msg := range map[string]*message.Message{"a new message": positioned(3), "a repeated one": m2} {
		if err := stale.Publish(subject+".a", msg); !errors.Is(err, eventstore.ErrOutOfOrder) {
			t.Fatalf("the stale publisher's publish of %s: %v, want ErrOutOfOrder", what, err)
		}
		if _, _, err := stale.Resume(ctx); err != nil { // then stale again
			t.Fatal(err)
		}
		if err := current.Publish(subject+".a", positioned(int64(len(storedPositions(t, js, stream))+1))); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(storedPositions(t, js, stream), " "); got != "1 2 3 4 5" {
		t.Fatalf("stream holds positions %s, want 1 2 3 4 5", got)
	}
	if n := refused.Load(); n != 2 {
		t.Fatalf("OnRefused called %d times, want 2", n)
	}
}
