package service_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// clusterLoad issues and refunds tickets through clients until stop is
// closed, and returns the ids of the tickets it got a 201 for.
func clusterLoad(t *testing.T, clients []*servicetest.Client, stop <-chan struct{}) func() []string {
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := clients[w%len(clients)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := client.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1+i%3, "theater_name", fmt.Sprint("theater ", w)))
				if r.Status != http.StatusCreated {
					failures.Add(1)
					continue
				}
				issued := servicetest.TicketIDs(t, r)
				if i%2 == 0 {
					if r := client.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": issued[:1]}); r.Status != 200 {
						failures.Add(1)
					}
				}
				mu.Lock()
				ids = append(ids, issued...)
				mu.Unlock()
			}
		}()
	}
	return func() []string {
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Errorf("%d commands failed under load", n)
		}
		return ids
	}
}

// requireAllReadable requires every id to be readable through client once
// the read model reached the log's head.
func requireAllReadable(t *testing.T, client *servicetest.Client, svc *service.Service, ids []string) {
	t.Helper()
	token := fmt.Sprint(svc.Store().Head())
	for _, id := range ids {
		if r := client.Do("GET", "/tickets/"+id, nil, "Ticketd-Min-Position", token); r.Status != 200 {
			t.Fatalf("acknowledged ticket %s: %d %s", id, r.Status, r.Body)
		}
	}
}

// stopAndVerify shuts every service down and requires the log, the tickets
// table (equal to a fresh fold) and the sales tables to verify.
func stopAndVerify(t *testing.T, db string, svcs []*service.Service) {
	t.Helper()
	for _, svc := range svcs {
		svc.Shutdown()
	}
	servicetest.VerifyCaughtUp(t, db)
}

func TestClusterServicesFailOverWhenTheLeaderStops(t *testing.T) {
	t.Parallel()
	db, svcs := servicetest.StartCluster(t, 3)
	leader := servicetest.SoleLeader(t, svcs, []int{0, 1, 2}, 5*time.Second)
	var others []int
	var clients []*servicetest.Client
	for i := range svcs {
		if i != leader {
			others = append(others, i)
			clients = append(clients, servicetest.NewClient(t, svcs[i]))
		}
	}
	stop := make(chan struct{})
	wait := clusterLoad(t, clients, stop)
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	if err := svcs[leader].Shutdown(); err != nil {
		t.Fatal(err)
	}
	next := servicetest.SoleLeader(t, svcs, others, 5*time.Second)
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("%s took over %s after the leader stopped, want at most 2s", svcs[next].InstanceID(), took)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	ids := wait()
	if len(ids) == 0 {
		t.Fatal("no ticket was issued under load")
	}
	for _, i := range others {
		requireAllReadable(t, servicetest.NewClient(t, svcs[i]), svcs[i], ids)
	}
	stopAndVerify(t, db, svcs)
}

// TestStaleLeaderNeverAppliesTwice cuts the leader off its lease (its lease
// connection is terminated, as a partition would) while it applies under
// load: it stops leading within the poll, one instance leads, and the
// tables still hold every event exactly once.
func TestStaleLeaderNeverAppliesTwice(t *testing.T) {
	t.Parallel()
	db, svcs := servicetest.StartCluster(t, 2)
	leader := servicetest.SoleLeader(t, svcs, []int{0, 1}, 5*time.Second)
	clients := []*servicetest.Client{servicetest.NewClient(t, svcs[0]), servicetest.NewClient(t, svcs[1])}
	stop := make(chan struct{})
	wait := clusterLoad(t, clients, stop)
	for round := range 3 {
		time.Sleep(200 * time.Millisecond)
		stale := servicetest.SoleLeader(t, svcs, []int{0, 1}, 5*time.Second)
		if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
			t.Fatalf("round %d: terminated %d leader lease connections, want 1", round, n)
		}
		servicetest.WaitWithin(t, time.Second, "the stale leader stops leading", func() bool { return !svcs[stale].Leader() })
		leader = servicetest.SoleLeader(t, svcs, []int{0, 1}, 2*time.Second)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	ids := wait()
	for i, svc := range svcs {
		requireAllReadable(t, clients[i], svc, ids)
	}
	t.Logf("%d tickets under load; %s leads at the end", len(ids), svcs[leader].InstanceID())
	stopAndVerify(t, db, svcs)
}

// TestClusterNATSHoldsEveryPositionOnceInOrderAcrossFailovers has only the
// leader publish to JetStream: through leader changes under load (a lease
// cut off twice, then the first leader stopped) the stream holds each position
// of the log once, in order.
func TestClusterNATSHoldsEveryPositionOnceInOrderAcrossFailovers(t *testing.T) {
	t.Parallel()
	server := servicetest.NATSURL(t)
	natsCfg := servicetest.NATSConfig(t, server)
	db, svcs := servicetest.StartCluster(t, 3, func(c *service.Config) { c.NATS = natsCfg })
	clients := []*servicetest.Client{servicetest.NewClient(t, svcs[0]), servicetest.NewClient(t, svcs[1]), servicetest.NewClient(t, svcs[2])}
	leader := servicetest.SoleLeader(t, svcs, []int{0, 1, 2}, 5*time.Second)
	var live []int
	for i := range svcs {
		if i != leader {
			live = append(live, i)
		}
	}
	stop := make(chan struct{})
	wait := clusterLoad(t, []*servicetest.Client{clients[live[0]], clients[live[1]]}, stop)
	for range 2 {
		time.Sleep(200 * time.Millisecond)
		if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
			t.Fatalf("terminated %d leader lease connections, want 1", n)
		}
		servicetest.SoleLeader(t, svcs, []int{0, 1, 2}, 2*time.Second)
	}
	time.Sleep(200 * time.Millisecond)
	if err := svcs[leader].Shutdown(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wait()
	last := servicetest.SoleLeader(t, svcs, live, 2*time.Second)
	servicetest.NATSCaughtUp(t, svcs[last], 20*time.Second)
	servicetest.RequireEventsInOrder(t, servicetest.StoredMessages(t, server, natsCfg, int(svcs[last].Store().Head())))
	stopAndVerify(t, db, svcs)
}
