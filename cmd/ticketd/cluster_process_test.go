package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestClusterWithASQLiteDatabaseExits2NamingTheFlag(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "app.db")
	code, _, stderr := runCLI(t, "", "serve", "--cluster", "--db", db, "--addr", "127.0.0.1:0")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "--cluster") {
		t.Fatalf("serve --cluster on SQLite: exit %d, stderr %q; want 2 and one line naming --cluster", code, stderr)
	}
}

func TestABadLeaderLeaseExits2InOneLineNamingIt(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--leader-lease", "0s"},
		{"--leader-lease", "-1s"},
		{"--leader-lease", "soon"},
		{"--leader-lease", "1s", "--leader-poll", "600ms"}, // renewals too rare for the lease
	} {
		db := filepath.Join(t.TempDir(), "app.db")
		code, _, stderr := runCLI(t, "", append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "leader-lease") {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and one line naming --leader-lease", args, code, stderr)
		}
	}
}

// position returns the Ticketd-Position of a command's answer.
func position(t testing.TB, r servicetest.Response) string {
	t.Helper()
	p := r.Header.Get("Ticketd-Position")
	if _, err := strconv.ParseInt(p, 10, 64); err != nil {
		t.Fatalf("answer without a Ticketd-Position: %d %v", r.Status, r.Header)
	}
	return p
}

// concurrently calls send(0)...send(n-1) at once and returns their answers.
func concurrently(n int, send func(i int) servicetest.Response) []servicetest.Response {
	results := make([]servicetest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = send(i)
		}()
	}
	wg.Wait()
	return results
}

// TestClusterOfThreeProcesses runs three `serve --cluster` processes on one
// database and holds them to the single instance's guarantees through any
// of them.
func TestClusterOfThreeProcesses(t *testing.T) {
	c := startCluster(t, 3)
	clients := []*servicetest.Client{c.client(0), c.client(1), c.client(2)}

	t.Run("exactly one leader, named by readyz and metrics", func(t *testing.T) {
		leader := c.leader(time.Second)
		for i, client := range clients {
			r, ok := c.readyz(i)
			if !ok || !r.Ready || r.Instance != c.nodes[i].id || r.Leader != (i == leader) {
				t.Fatalf("%s readyz = %+v (answered %v); leader is %s", c.nodes[i].id, r, ok, c.nodes[leader].id)
			}
			m := client.Scrape()
			want := 0.0
			if i == leader {
				want = 1
			}
			if got := servicetest.MetricValue(m, "ticketd_projector_leader"); got != want {
				t.Errorf("%s ticketd_projector_leader = %v, want %v", c.nodes[i].id, got, want)
			}
			if got := servicetest.MetricValue(m, "ticketd_instance_info", "instance", c.nodes[i].id); got != 1 {
				t.Errorf("%s ticketd_instance_info{instance=%q} = %v, want 1", c.nodes[i].id, c.nodes[i].id, got)
			}
		}
		if acquired := c.logLines(leader, "projector leadership acquired"); len(acquired) != 1 || acquired[0]["instance"] != c.nodes[leader].id {
			t.Errorf("the leader's log has %v for leadership acquired", acquired)
		}
	})

	t.Run("the HTTP contract through each instance", func(t *testing.T) {
		for i, client := range clients {
			next := clients[(i+1)%3]
			r := client.Do("POST", "/tickets/issue", servicetest.SeedIssue)
			if r.Status != http.StatusCreated {
				t.Fatalf("%s issue: %d %s", c.nodes[i].id, r.Status, r.Body)
			}
			ids := servicetest.TicketIDs(t, r)
			token := position(t, r)
			// Read on the instance that took it, and on the next one with the token.
			for _, reader := range []*servicetest.Client{client, next} {
				got := reader.Do("GET", "/tickets/"+ids[0], nil, "Ticketd-Min-Position", token).JSON(t)
				if got["status"] != "issued" || got["memo"] != "VIP석" || got["theater_name"] != "CGV 강남" {
					t.Fatalf("ticket read through %s: %v", reader.Base, got)
				}
				list := reader.Do("GET", "/tickets?user_id=user123&limit=1000", nil, "Ticketd-Min-Position", token).JSON(t)
				if list["total"] != float64(2*(i+1)) {
					t.Fatalf("list through %s after %d issues of 2: total %v", reader.Base, i+1, list["total"])
				}
			}
			bad := client.Do("POST", "/tickets/issue", map[string]any{"theater_name": "", "user_id": "u", "movie_title": "m", "price_krw": 1.5, "quantity": 11})
			if bad.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, bad), []string{"price_krw", "quantity", "theater_name"}) {
				t.Fatalf("%s invalid issue: %d %s", c.nodes[i].id, bad.Status, bad.Body)
			}
			refund := client.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[0], "abc123"}})
			if got := refund.JSON(t); refund.Status != 200 || !reflect.DeepEqual(got["refunded"], []any{ids[0]}) || !reflect.DeepEqual(got["not_found"], []any{"abc123"}) {
				t.Fatalf("%s refund: %d %s", c.nodes[i].id, refund.Status, refund.Body)
			}
			again := next.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[0]}})
			if got := again.JSON(t); again.Status != 200 || !reflect.DeepEqual(got["already_canceled"], []any{ids[0]}) {
				t.Fatalf("refund again through the next instance: %d %s", again.Status, again.Body)
			}
			got := next.Do("GET", "/tickets/"+ids[0], nil, "Ticketd-Min-Position", position(t, refund)).JSON(t)
			if got["status"] != "canceled" || got["canceled_at"] == nil {
				t.Fatalf("refunded ticket read through the next instance with the token: %v", got)
			}
			if events := next.Do("GET", "/tickets/"+ids[0]+"/events", nil).JSON(t)["events"].([]any); len(events) != 2 {
				t.Fatalf("%d events in the refunded ticket's stream, want 2", len(events))
			}
			if r := client.Do("GET", "/tickets/"+ids[1]+"x", nil); r.Status != 404 {
				t.Fatalf("unknown ticket: %d", r.Status)
			}
		}
	})

	t.Run("16 concurrent refunds of one ticket over the three refund it once", func(t *testing.T) {
		id := clients[0].IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))[0]
		const n = 16
		results := concurrently(n, func(i int) servicetest.Response {
			return clients[i%3].Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{id}, "reason": fmt.Sprint("client ", i)})
		})
		refunded, already := 0, 0
		for _, r := range results {
			if r.Status != 200 {
				t.Fatalf("a refund answered %d %s", r.Status, r.Body)
			}
			body := r.JSON(t)
			refunded += len(body["refunded"].([]any))
			already += len(body["already_canceled"].([]any))
		}
		if refunded != 1 || already != n-1 {
			t.Fatalf("refunded %d times, already_canceled %d; want 1 and %d", refunded, already, n-1)
		}
		if events := clients[2].Do("GET", "/tickets/"+id+"/events", nil).JSON(t)["events"].([]any); len(events) != 2 {
			t.Fatalf("%d events in the ticket's stream, want 2", len(events))
		}
	})

	t.Run("12 concurrent requests with one Idempotency-Key over the three execute once", func(t *testing.T) {
		before := clients[0].LogHead()
		const n = 12
		results := concurrently(n, func(i int) servicetest.Response {
			return clients[i%3].Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "cluster-key-1")
		})
		var created []byte
		for _, r := range results {
			if r.Status == http.StatusCreated {
				if created != nil {
					t.Fatal("two requests with one key were executed")
				}
				created = r.Body
			}
		}
		if created == nil {
			t.Fatal("no request was executed")
		}
		for _, r := range results {
			switch {
			case r.Status == http.StatusCreated:
			case r.Status == http.StatusOK && r.Header.Get("Idempotent-Replayed") == "true" && string(r.Body) == string(created):
			case r.Status == http.StatusConflict:
			default:
				t.Fatalf("answer %d %v %s; want 201, a replay of %s, or 409", r.Status, r.Header, r.Body, created)
			}
		}
		if after := clients[1].LogHead(); after != before+2 {
			t.Fatalf("the log grew by %d events, want 2 (one execution of quantity 2)", after-before)
		}
	})

	t.Run("a write on one instance is read on every other with the token", func(t *testing.T) {
		for a := range clients {
			r := clients[a].Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1, "user_id", "pair-"+c.nodes[a].id))
			id, token := servicetest.TicketIDs(t, r)[0], position(t, r)
			for b := range clients {
				if got := clients[b].Do("GET", "/tickets/"+id, nil, "Ticketd-Min-Position", token); got.Status != 200 {
					t.Fatalf("ticket written on %s, read on %s with the token: %d %s", c.nodes[a].id, c.nodes[b].id, got.Status, got.Body)
				}
				list := clients[b].Do("GET", "/tickets?user_id=pair-"+c.nodes[a].id, nil, "Ticketd-Min-Position", token).JSON(t)
				if list["total"] != float64(1) {
					t.Fatalf("list on %s of the ticket written on %s: %v", c.nodes[b].id, c.nodes[a].id, list)
				}
			}
		}
	})

	t.Run("the stream of one instance delivers the writes of the others in order", func(t *testing.T) {
		head := clients[2].LogHead()
		stream := servicetest.OpenStreamAt(t, c.nodes[2].base, fmt.Sprintf("?after=%d", head))
		for i := range 10 {
			clients[i%2].IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))
		}
		stream.ExpectPositions("events written through node0 and node1, streamed by node2", servicetest.PositionRange(int64(head)+1, int64(head)+10)...)
	})

	t.Run("after SIGKILL of the leader another leads within 2s and nothing is lost", func(t *testing.T) {
		old := c.leader(time.Second)
		killed := time.Now()
		c.kill(old)
		next := c.leader(5 * time.Second)
		took := time.Since(killed)
		t.Logf("failover from %s to %s took %s", c.nodes[old].id, c.nodes[next].id, took)
		if took > 2*time.Second {
			t.Errorf("failover took %s, want at most 2s", took)
		}
		r := clients[next].Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "user_id", "after-failover"))
		token := position(t, r)
		for i := range clients {
			if i == old {
				continue
			}
			if list := clients[i].Do("GET", "/tickets?user_id=after-failover", nil, "Ticketd-Min-Position", token).JSON(t); list["total"] != float64(2) {
				t.Fatalf("after failover, %s lists %v", c.nodes[i].id, list)
			}
		}
		c.start(old)
		c.waitReady(old)
		if r, _ := c.readyz(old); r.Leader {
			t.Fatalf("the restarted %s leads beside %s", c.nodes[old].id, c.nodes[next].id)
		}
		if list := clients[old].Do("GET", "/tickets?user_id=after-failover", nil, "Ticketd-Min-Position", token).JSON(t); list["total"] != float64(2) {
			t.Fatalf("the restarted %s lists %v", c.nodes[old].id, list)
		}
	})

	t.Run("replay refuses the database while the cluster runs", func(t *testing.T) {
		code, _, stderr := runCLI(t, "", "replay", "--db", c.db)
		if code != 1 || !strings.Contains(stderr, "ticketd pid") {
			t.Fatalf("replay beside the cluster: exit %d, %q; want 1 naming a holder", code, stderr)
		}
	})

	t.Run("stopped, the log and every read table verify", func(t *testing.T) {
		for i := range c.nodes {
			c.stop(i)
		}
		servicetest.VerifyCaughtUp(t, c.db)
	})
}
