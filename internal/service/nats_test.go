package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file publish to the real JetStream server named by
// TICKETD_TEST_NATS_URL, each on a stream and subjects of its own.
func TestNATSRelayPublishesEveryEventOnceInOrderAsCloudEvents(t *testing.T) {
	t.Parallel()
	svc, server := servicetest.StartNATSService(t)
	cfg := svc.Config()
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 10), "Idempotency-Key", "k-nats", "X-Correlation-ID", "corr-nats", "traceparent", servicetest.ClientTraceparent)
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:4], "reason": "고객 <요청> & more"})
	servicetest.AppendIssued(t, svc, 700) // more than one relay batch
	servicetest.NATSCaughtUp(t, svc, 20*time.Second)

	raw := c.RawEvents()
	msgs := servicetest.StoredMessages(t, server, cfg.NATS, len(raw))
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
	for _, want := range []string{`"correlationid":"corr-nats"`, `"idempotencykey":"k-nats"`, `"traceparent":"` + servicetest.ClientTraceparent + `"`} {
		if got := msgs[0].Data(); !strings.Contains(string(got), want) {
			t.Fatalf("first message lacks %s: %s", want, got)
		}
	}
}

func TestNATSRelayStoppedMidRunResumesWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	server := servicetest.NATSURL(t)
	cfg := servicetest.Config(t.TempDir())
	cfg.NATS = servicetest.NATSConfig(t, server)
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
	servicetest.NATSCaughtUp(t, svc, 20*time.Second)
	servicetest.RequireEventsInOrder(t, servicetest.StoredMessages(t, server, cfg.NATS, int(svc.Store().Head())))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
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

func TestNATSUnreachableAtStartThenBacklogArrivesAndCommandsNeverWait(t *testing.T) {
	t.Parallel()
	server := servicetest.NATSURL(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &tcpProxy{t: t, addr: servicetest.FreeAddr(t), target: u.Host}
	t.Cleanup(proxy.down)
	cfg := servicetest.Config(t.TempDir())
	cfg.NATS = servicetest.NATSConfig(t, server)
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
	servicetest.NATSCaughtUp(t, svc, 30*time.Second)
	proxy.down() // NATS goes away while the service runs
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 7))
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{"none"}})
	time.Sleep(200 * time.Millisecond)
	proxy.up()
	servicetest.NATSCaughtUp(t, svc, 30*time.Second)
	servicetest.RequireEventsInOrder(t, servicetest.StoredMessages(t, server, cfg.NATS, 12))
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
