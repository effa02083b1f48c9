package servicetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
)

// NATSURLVar names the environment variable with the NATS test server:
// tests publish to the real JetStream server it names, each on a stream and
// subjects of its own.
const NATSURLVar = "TICKETD_TEST_NATS_URL"

// NATSURL returns the NATS server of the tests, skipping the test when
// none is configured.
func NATSURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(NATSURLVar)
	if u == "" {
		t.Skipf("%s is not set (e.g. nats://127.0.0.1:4222, a server with JetStream)", NATSURLVar)
	}
	return u
}

// NATSConfig returns a NATS relay configuration for server with a
// stream and subject prefix of the test's own; the stream is deleted at the
// end of the test.
func NATSConfig(t *testing.T, server string) service.NATSConfig {
	t.Helper()
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	cfg := service.NATSConfig{URL: server, SubjectPrefix: "ticketdtest." + id + ".events", Stream: "TICKETD_TEST_" + id, Source: "urn:ticketd:test"}
	t.Cleanup(func() {
		js := JetStreamClient(t, server)
		if err := js.DeleteStream(context.Background(), cfg.Stream); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete test stream %s: %v", cfg.Stream, err)
		}
	})
	return cfg
}

// StartNATSService starts a service that relays to the NATS test server on
// a stream of the test's own, and returns it with that server's URL.
func StartNATSService(t *testing.T) (*service.Service, string) {
	t.Helper()
	server := NATSURL(t)
	cfg := Config(t.TempDir())
	cfg.NATS = NATSConfig(t, server)
	return Start(t, cfg), server
}

// JetStreamClient connects to server for the test's duration.
func JetStreamClient(t *testing.T, server string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(server)
	if err != nil {
		t.Fatalf("connect to NATS %s: %v", server, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// NATSCaughtUp waits until the service leads and its NATS relay has
// published the whole log. In a cluster the relay of a new leadership
// starts a moment after the lease is won, so a leader without one yet has
// not caught up.
func NATSCaughtUp(t *testing.T, svc *service.Service, timeout time.Duration) {
	t.Helper()
	WaitWithin(t, timeout, "the NATS relay has published the whole log", func() bool {
		relay := svc.NATSRelay()
		return relay != nil && relay.Position() == svc.Store().Head()
	})
}

// StoredMessages returns every message of the test's stream, in stream
// order, requiring exactly want of them.
func StoredMessages(t *testing.T, server string, cfg service.NATSConfig, want int) []jetstream.Msg {
	t.Helper()
	js := JetStreamClient(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n != uint64(want) {
		t.Fatalf("stream %s holds %d messages, want %d (one per event)", cfg.Stream, n, want)
	}
	consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]jetstream.Msg, 0, want)
	for len(msgs) < want {
		batch, err := consumer.Fetch(want-len(msgs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			msgs = append(msgs, msg)
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return msgs
}

// RequireEventsInOrder requires msgs to carry the log's events 1..len(msgs)
// in order, each once.
func RequireEventsInOrder(t *testing.T, msgs []jetstream.Msg) {
	t.Helper()
	for i, msg := range msgs {
		rec, err := eventstore.RecordFromCloudEvent(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		if rec.Position != int64(i+1) {
			t.Fatalf("message %d carries position %d: lost, repeated or reordered", i+1, rec.Position)
		}
	}
}
