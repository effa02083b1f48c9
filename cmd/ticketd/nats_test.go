package main

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

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
	server := servicetest.NATSURL(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &tcpProxy{t: t, addr: freeAddr(t), target: u.Host}
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
