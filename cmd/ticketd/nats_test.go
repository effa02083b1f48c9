package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file publish to the real JetStream server named by
// TICKETD_TEST_NATS_URL, each on a stream and subjects of its own.

// natsTestURLVar names the environment variable with the NATS test server.
const natsTestURLVar = "TICKETD_TEST_NATS_URL"

// natsTestURL returns the NATS server of the tests, skipping the test when
// none is configured.
func natsTestURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(natsTestURLVar)
	if u == "" {
		t.Skipf("%s is not set (e.g. nats://127.0.0.1:4222, a server with JetStream)", natsTestURLVar)
	}
	return u
}

// natsTestConfig returns a NATS relay configuration for server with a
// stream and subject prefix of the test's own; the stream is deleted at the
// end of the test.
func natsTestConfig(t *testing.T, server string) service.NATSConfig {
	t.Helper()
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	cfg := service.NATSConfig{URL: server, SubjectPrefix: "ticketdtest." + id + ".events", Stream: "TICKETD_TEST_" + id, Source: "urn:ticketd:test"}
	t.Cleanup(func() {
		js := jetStreamClient(t, server)
		if err := js.DeleteStream(context.Background(), cfg.Stream); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete test stream %s: %v", cfg.Stream, err)
		}
	})
	return cfg
}

// startNATSService starts a service that relays to the NATS test server on
// a stream of the test's own, and returns it with that server's URL.
func startNATSService(t *testing.T) (*service.Service, string) {
	t.Helper()
	server := natsTestURL(t)
	cfg := servicetest.Config(t.TempDir())
	cfg.NATS = natsTestConfig(t, server)
	return servicetest.Start(t, cfg), server
}

// jetStreamClient connects to server for the test's duration.
func jetStreamClient(t *testing.T, server string) jetstream.JetStream {
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

// natsCaughtUp waits until the service's NATS relay has published the
// whole log.
func natsCaughtUp(t *testing.T, svc *service.Service, timeout time.Duration) {
	t.Helper()
	servicetest.WaitWithin(t, timeout, "the NATS relay has published the whole log", func() bool {
		return svc.NATSRelay().Position() == svc.Store().Head()
	})
}

// storedMessages returns every message of the test's stream, in stream
// order, requiring exactly want of them.
func storedMessages(t *testing.T, server string, cfg service.NATSConfig, want int) []jetstream.Msg {
	t.Helper()
	js := jetStreamClient(t, server)
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

// requireEventsInOrder requires msgs to carry the log's events 1..len(msgs)
// in order, each once.
func requireEventsInOrder(t *testing.T, msgs []jetstream.Msg) {
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

func TestNATSRelayPublishesEveryEventOnceInOrderAsCloudEvents(t *testing.T) {
	t.Parallel()
	svc, server := startNATSService(t)
	cfg := svc.Config()
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 10), "Idempotency-Key", "k-nats", "X-Correlation-ID", "corr-nats", "traceparent", clientTraceparent)
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:4], "reason": "고객 <요청> & more"})
	servicetest.AppendIssued(t, svc, 700) // more than one relay batch
	natsCaughtUp(t, svc, 20*time.Second)

	raw := c.RawEvents()
	msgs := storedMessages(t, server, cfg.NATS, len(raw))
	for i, msg := range msgs {
		var event eventstore.Record
		if err := json.Unmarshal(raw[i], &event); err != nil {
			t.Fatal(err)
		}
		var envelope map[string]json.RawMessage
		if err := json.Unmarshal(msg.Data(), &envelope); err != nil {
			t.Fatalf("message %d is not JSON: %v", i+1, err)
		}
		want := map[string]string{
			"specversion": `"1.0"`, "id": quote(event.ID), "source": `"urn:ticketd:test"`, "type": quote(event.Type),
			"subject": quote(event.StreamID), "datacontenttype": `"application/json"`,
			"data": string(event.Data), "position": quote(fmt.Sprint(i + 1)), "streamversion": quote(fmt.Sprint(event.Version)),
			"prevhash": quote(event.PrevHash), "hash": quote(event.Hash),
		}
		for attr, v := range want {
			if string(envelope[attr]) != v {
				t.Fatalf("message %d: %s = %s, want %s\n%s", i+1, attr, envelope[attr], v, msg.Data())
			}
		}
		var at time.Time
		if err := json.Unmarshal(envelope["time"], &at); err != nil || !at.Equal(event.OccurredAt) {
			t.Fatalf("message %d: time %s, want %s", i+1, envelope["time"], domain.FormatTime(event.OccurredAt))
		}
		if msg.Subject() != cfg.NATS.SubjectPrefix+"."+event.Type || msg.Headers().Get(nats.MsgIdHdr) != event.ID ||
			msg.Headers().Get("Content-Type") != "application/cloudevents+json" {
			t.Fatalf("message %d: subject %s, headers %v", i+1, msg.Subject(), msg.Headers())
		}
		rec, err := eventstore.RecordFromCloudEvent(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		if back, _ := json.Marshal(rec); string(back) != string(raw[i]) || rec.ComputeHash() != rec.Hash {
			t.Fatalf("message %d does not rebuild its event:\n%s\n%s", i+1, back, raw[i])
		}
	}
	for _, want := range []string{`"correlationid":"corr-nats"`, `"idempotencykey":"k-nats"`, `"traceparent":"` + clientTraceparent + `"`} {
		if got := msgs[0].Data(); !strings.Contains(string(got), want) {
			t.Fatalf("first message lacks %s: %s", want, got)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestNATSRelayStoppedMidRunResumesWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	server := natsTestURL(t)
	cfg := servicetest.Config(t.TempDir())
	cfg.NATS = natsTestConfig(t, server)
	svc, err := service.Start(context.Background(), cfg, servicetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	writing := make(chan struct{})
	go func() { // commands go on until the service stops under them
		defer close(writing)
		for servicetest.AppendIssuedTo(svc, 3) == nil {
		}
	}()
	servicetest.WaitWithin(t, 20*time.Second, "the NATS relay has published 300 events", func() bool { return svc.NATSRelay().Position() >= 300 })
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	<-writing

	// Rewind the relay's checkpoint, as a crash before its last save would:
	// the restarted relay must resume from where the stream ends rather
	// than publish those events again.
	store, err := sqlite.Open(cfg.DB, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	published, err := store.Checkpoint(ctx, service.NATSRelayCheckpoint)
	if err == nil {
		err = store.MoveCheckpoint(ctx, service.NATSRelayCheckpoint, published, published-100)
	}
	if err := errors.Join(err, store.Close()); err != nil {
		t.Fatal(err)
	}

	svc = servicetest.Start(t, cfg)
	servicetest.AppendIssued(t, svc, 50)
	natsCaughtUp(t, svc, 20*time.Second)
	requireEventsInOrder(t, storedMessages(t, server, cfg.NATS, int(svc.Store().Head())))
}

// tcpProxy forwards connections on a loopback address to target while it
// is up, standing in for a network path to NATS that comes and goes.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

// up starts accepting connections.
func (p *tcpProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, upstream)
			p.mu.Unlock()
			go func() { io.Copy(upstream, client); upstream.Close() }()
			go func() { io.Copy(client, upstream); client.Close() }()
		}
	}()
}

// down stops accepting and cuts every forwarded connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestNATSUnreachableAtStartThenBacklogArrivesAndCommandsNeverWait(t *testing.T) {
	t.Parallel()
	server := natsTestURL(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &tcpProxy{t: t, addr: freeAddr(t), target: u.Host}
	t.Cleanup(proxy.down)
	cfg := servicetest.Config(t.TempDir())
	cfg.NATS = natsTestConfig(t, server)
	cfg.NATS.URL = "nats://" + proxy.addr // nothing listens there yet
	svc := servicetest.Start(t, cfg)
	c := servicetest.NewClient(t, svc)

	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 5))
	status, ready := c.Readyz()
	check := ready.Checks[service.NATSRelayCheckpoint]
	if status != 200 || check.Status != "ok" || check.LagEvents == nil || *check.LagEvents != 5 || !strings.Contains(check.Detail, "reported only") {
		t.Fatalf("readyz with NATS unreachable = %d %+v, want ready with relay:nats 5 events behind", status, ready)
	}
	if lag := servicetest.MetricValue(c.Scrape(), "ticketd_consumer_lag_events", "consumer", service.NATSRelayCheckpoint); lag != 5 {
		t.Fatalf("ticketd_consumer_lag_events{consumer=relay:nats} = %v, want 5", lag)
	}

	proxy.up()
	natsCaughtUp(t, svc, 30*time.Second)
	proxy.down() // NATS goes away while the service runs
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 7))
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{"none"}})
	time.Sleep(200 * time.Millisecond)
	proxy.up()
	natsCaughtUp(t, svc, 30*time.Second)
	requireEventsInOrder(t, storedMessages(t, server, cfg.NATS, 12))
}
