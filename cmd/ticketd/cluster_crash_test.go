package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// natsFlags returns a NATS configuration on a stream of the test's own on
// the NATS test server (deleted at the end, skipping the test without one)
// and the serve flags that relay to it.
func natsFlags(t *testing.T) (service.NATSConfig, []string) {
	t.Helper()
	nats := servicetest.NATSConfig(t, servicetest.NATSURL(t))
	return nats, []string{"--nats-url", nats.URL, "--nats-stream", nats.Stream, "--nats-subject-prefix", nats.SubjectPrefix}
}

// TestClusterCrashLosesNothing is the crash harness across a cluster: three
// --cluster processes on one PostgreSQL database take concurrent issue and
// refund traffic with Idempotency-Keys, spread over all of them, while the
// projector leader and the other instances are SIGKILLed in turn and
// restarted at random times for 15 s (TICKETD_CLUSTER_CRASH_SECONDS). Then every request
// is sent again: an acknowledged one must replay its first answer, and the
// log must be gap-free with every acknowledged request in it once, its
// chain and tickets table must pass `ticketd verify`, and the JetStream
// stream must hold every position once, in order.
func TestClusterCrashLosesNothing(t *testing.T) {
	nats, flags := natsFlags(t)
	c := startCluster(t, 3, flags...)
	length := time.Duration(envCount(t, "TICKETD_CLUSTER_CRASH_SECONDS", 15)) * time.Second
	client := &http.Client{Timeout: 10 * time.Second}
	anyNode := func(rng *rand.Rand) string { return c.nodes[rng.IntN(len(c.nodes))].base }
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	traffic := &crashRun{}
	stopTraffic := traffic.startDrivers(t, client, rng, 9, "cluster-crash", anyNode)

	var leaderKills, otherKills int
	// Kills alternate between the leader and another instance, and the run
	// goes on past its length until it has had both.
	for deadline := time.Now().Add(length); time.Now().Before(deadline) || leaderKills == 0 || otherKills == 0; {
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		var victim int
		if leaderKills <= otherKills {
			victim = c.leader(15 * time.Second)
			leaderKills++
		} else {
			current := c.leaders()
			var others []int
			for i := range c.nodes {
				if !slices.Contains(current, i) {
					others = append(others, i)
				}
			}
			if len(others) == 0 {
				t.Fatalf("all %d instances report leader=true", len(c.nodes))
			}
			victim = others[rng.IntN(len(others))]
			otherKills++
		}
		c.kill(victim)
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		c.start(victim)
		c.waitReady(victim)
	}
	stopTraffic()
	acked, head := c.checkNothingLost(t, client, rng, traffic, anyNode, nats)
	t.Logf("cluster crash harness: %d leader kills, %d other kills, %d requests sent, %d acknowledged, %d events, requests lost: 0",
		leaderKills, otherKills, len(traffic.requests), acked, head)
	fmt.Printf("cluster crash harness totals: leader_kills=%d other_kills=%d requests=%d acknowledged=%d events=%d lost=0\n",
		leaderKills, otherKills, len(traffic.requests), acked, head)
}

// checkNothingLost sends every request of traffic again, each to the node
// target picks, requires the log to hold each acknowledged one once (see
// resend, checkCrashLog), every node to read the tables at the log's head,
// and the NATS stream to hold each position once, in order; then it stops
// the cluster and requires `ticketd verify` to pass. It returns how many
// requests were acknowledged and the log's length.
func (c *testCluster) checkNothingLost(t *testing.T, client *http.Client, rng *rand.Rand, traffic *crashRun, target func(*rand.Rand) string, nats service.NATSConfig) (acked int, head int64) {
	t.Helper()
	acked = traffic.resend(t, client, rng, target)
	head = checkCrashLog(t, client, c.nodes[0].base, traffic)
	for _, node := range c.nodes {
		waitProjected(t, client, node.base, head)
	}
	checkStreamHolds(t, nats, head)
	for i := range c.nodes {
		c.stop(i)
	}
	if code, stdout, stderr := runCLI(t, "", "verify", "--db", c.db); code != 0 {
		t.Fatalf("verify after the cluster's run: exit %d\n%s%s", code, stdout, stderr)
	}
	return acked, head
}

// waitProjected waits until the tickets table base reads from reached
// position, asking with Ticketd-Min-Position.
func waitProjected(t *testing.T, client *http.Client, base string, position int64) {
	t.Helper()
	servicetest.WaitWithin(t, 30*time.Second, fmt.Sprintf("%s reads the tickets table at position %d", base, position), func() bool {
		req, _ := http.NewRequest("GET", base+"/tickets?limit=1", nil)
		req.Header.Set("Ticketd-Min-Position", strconv.FormatInt(position, 10))
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// checkStreamHolds waits until the test's JetStream stream holds head
// messages and requires them to be positions 1..head, each once, in order.
func checkStreamHolds(t *testing.T, nats service.NATSConfig, head int64) {
	t.Helper()
	js := servicetest.JetStreamClient(t, nats.URL)
	var stream jetstream.Stream
	servicetest.WaitWithin(t, 30*time.Second, fmt.Sprintf("stream %s holds %d messages", nats.Stream, head), func() bool {
		var err error
		stream, err = js.Stream(context.Background(), nats.Stream)
		return err == nil && stream.CachedInfo().State.Msgs >= uint64(head)
	})
	servicetest.RequireEventsInOrder(t, servicetest.StoredMessages(t, nats.URL, nats, int(head)))
}

// TestClusterLeaderFailsOverWithinTwoSeconds SIGKILLs the projector leader
// of three --cluster instances 10 times (TICKETD_FAILOVER_KILLS) and
// measures the time from the kill until another instance's /readyz reports
// leader=true. The issue requires under 2 s; the bound asserted adds 1 s
// for a loaded test machine and the polling. Each killed instance is
// restarted before the next kill. Precise figures: docs/BENCHMARKS.md.
func TestClusterLeaderFailsOverWithinTwoSeconds(t *testing.T) {
	_, flags := natsFlags(t)
	c := startCluster(t, 3, append(flags, "--leader-poll", "500ms")...) // the default, not the helper's 100ms
	kills := envCount(t, "TICKETD_FAILOVER_KILLS", 10)
	const bound = 3 * time.Second
	var times []time.Duration
	for range kills {
		old := c.leader(15 * time.Second)
		killed := time.Now()
		c.kill(old)
		next := c.leader(2 * bound)
		took := time.Since(killed)
		if took > bound {
			t.Errorf("failover from %s to %s took %s, want under %s (2 s required, plus slack)", c.nodes[old].id, c.nodes[next].id, took, bound)
		}
		times = append(times, took)
		c.start(old)
		c.waitReady(old)
	}
	slices.Sort(times)
	p50, worst := times[len(times)/2], times[len(times)-1]
	t.Logf("leader failover over %d kills: p50 %s, max %s, all %v", kills, p50.Round(time.Millisecond), worst.Round(time.Millisecond), times)
	fmt.Printf("cluster failover: kills=%d p50=%s max=%s\n", kills, p50.Round(time.Millisecond), worst.Round(time.Millisecond))
}
