package natsjs_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

func TestPublisherCreatesItsStreamAndJetStreamDropsRepublishedMessages(t *testing.T) {
	t.Parallel()
	server := os.Getenv("TICKETD_TEST_NATS_URL")
	if server == "" {
		t.Skip("TICKETD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222, a server with JetStream)")
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	stream, subject := "NATSJS_TEST_"+id, "natsjstest."+id
	nc, err := nats.Connect(server)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer js.DeleteStream(ctx, stream)

	p := mustPublisher(t, natsjs.Config{URL: server, Stream: stream, Subjects: []string{subject + ".>"}, DuplicateWindow: time.Minute})
	first, second := message.NewMessage(uuid.NewString(), []byte(`{"n":1}`)), message.NewMessage(uuid.NewString(), []byte(`{"n":2}`))
	for _, msg := range []*message.Message{first, first, second, first} {
		if err := p.Publish(subject+".a", msg); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("the publisher did not create stream %s: %v", stream, err)
	}
	info := s.CachedInfo()
	if info.State.Msgs != 2 || info.Config.Duplicates != time.Minute {
		t.Fatalf("stream holds %d messages with a duplicate window of %s, want 2 and 1m", info.State.Msgs, info.Config.Duplicates)
	}
	for seq, want := range map[uint64]*message.Message{1: first, 2: second} {
		got, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.Header.Get(nats.MsgIdHdr) != want.UUID || string(got.Data) != string(want.Payload) {
			t.Fatalf("message %d: id %s data %s", seq, got.Header.Get(nats.MsgIdHdr), got.Data)
		}
	}
}
