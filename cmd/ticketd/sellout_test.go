package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// saleRun is a sellout of one showing driven through real HTTP, with every
// sale request sent (crashRequests, each with its Idempotency-Key).
type saleRun struct {
	show     string
	capacity int
	mu       sync.Mutex
	sales    []*crashRequest
}

// newSaleRun schedules a showing of capacity seats, starting in a day, on
// the service at base.
func newSaleRun(t *testing.T, client *http.Client, base string, capacity int) *saleRun {
	t.Helper()
	body := fmt.Sprintf(`{"theater_name":"CGV 강남","movie_title":"파묘","starts_at":%q,"capacity":%d,"price_krw":15000}`,
		time.Now().Add(24*time.Hour).Format(time.RFC3339), capacity)
	resp, err := client.Post(base+"/showings", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var showing struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&showing); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("schedule: %d %v", resp.StatusCode, err)
	}
	return &saleRun{show: showing.ID, capacity: capacity}
}

// soldOut reports whether answer is a sold-out problem with no seat left.
func soldOut(status int, answer []byte) (out, none bool) {
	var p struct {
		Type      string
		Available *int64
	}
	if status != http.StatusConflict || json.Unmarshal(answer, &p) != nil || !strings.HasSuffix(p.Type, "/sold-out") || p.Available == nil {
		return false, false
	}
	return true, *p.Available == 0
}

// buy sends sales of 1–4 seats for user from one worker, keys prefix-N, to
// the base target picks, until stop is closed or a sold-out answer says no
// seat is left. A 201 is acknowledged; a sold-out is an answer; a 503 or
// none (the process died) leaves the sale unanswered; anything else fails t.
func (s *saleRun) buy(t *testing.T, client *http.Client, rng *rand.Rand, prefix, user string, stop <-chan struct{}, target func(*rand.Rand) string) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		req := &crashRequest{key: fmt.Sprintf("%s-%d", prefix, n), path: "/tickets/issue", quantity: 1 + rng.IntN(4)}
		req.body, _ = json.Marshal(map[string]any{"showing_id": s.show, "user_id": user, "quantity": req.quantity})
		s.mu.Lock()
		s.sales = append(s.sales, req)
		s.mu.Unlock()
		status, body := send(client, target(rng), req)
		out, none := soldOut(status, body)
		switch {
		case status == http.StatusCreated:
			s.mu.Lock()
			req.acked, req.answer = true, body
			s.mu.Unlock()
		case none:
			return
		case out, status == 0, status == http.StatusServiceUnavailable:
		default:
			t.Errorf("sale %s: status %d: %s", req.key, status, body)
			return
		}
	}
}

// drive runs n workers of buy, worker w with keys prefix-w-N for buyer
// prefix-user-w, until every one stopped; closing stop stops them too.
func (s *saleRun) drive(t *testing.T, client *http.Client, rng *rand.Rand, n int, prefix string, stop <-chan struct{}, target func(*rand.Rand) string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			s.buy(t, client, rand.New(rand.NewPCG(seed, uint64(w))), fmt.Sprint(prefix, "-", w), fmt.Sprint(prefix, "-user-", w), stop, target)
		}()
	}
	return &wg
}

// settle sends every sale again with its key once the traffic stopped: an
// acknowledged one must replay its answer; an unanswered one committed
// (replay) or did not (runs now: sold, or sold out). It returns the seats
// acknowledged before the resend and the seats of every sale answered with
// tickets in the end.
func (s *saleRun) settle(t *testing.T, client *http.Client, rng *rand.Rand, target func(*rand.Rand) string) (acked, sold int) {
	t.Helper()
	for _, req := range s.sales {
		status, body := send(client, target(rng), req)
		out, _ := soldOut(status, body)
		switch {
		case req.acked && (status != http.StatusOK || !bytes.Equal(body, req.answer)):
			t.Errorf("acknowledged sale %s: retry answered %d %s, want 200 with %s", req.key, status, body, req.answer)
		case !req.acked && status != http.StatusOK && status != http.StatusCreated && !out:
			t.Errorf("unanswered sale %s: retry answered %d %s", req.key, status, body)
		}
		if req.acked {
			acked += req.quantity
			sold += req.quantity
		} else if status == http.StatusOK || status == http.StatusCreated {
			req.answer = body
			sold += req.quantity
		}
	}
	return acked, sold
}

// checkLog reads the log's TicketIssued events over HTTP and requires the
// showing's tickets to be exactly sold, at most its capacity, each sale's
// key on quantity tickets or none; it returns the log's head.
func (s *saleRun) checkLog(t *testing.T, client *http.Client, base string, sold int) int64 {
	t.Helper()
	type event struct {
		Position int64 `json:"position"`
		Data     struct {
			ShowingID string `json:"showing_id"`
		} `json:"data"`
		Metadata struct {
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"metadata"`
	}
	tickets, byKey := 0, map[string]int{}
	var head int64
	for _, e := range readLog[event](t, client, base, "&type=TicketIssued") {
		if e.Data.ShowingID == s.show {
			tickets++
			byKey[e.Metadata.IdempotencyKey]++
		}
		head = e.Position
	}
	if tickets != sold || tickets > s.capacity {
		t.Fatalf("the log has %d tickets of the showing; the sales answered %d; capacity %d", tickets, sold, s.capacity)
	}
	for _, req := range s.sales {
		if got := byKey[req.key]; got != 0 && got != req.quantity {
			t.Errorf("sale %s of %d seats has %d tickets in the log: not all or nothing", req.key, req.quantity, got)
		}
	}
	return head
}

// showingSold reads the showing's sold seats at base once its tables reached
// position.
func (s *saleRun) showingSold(t *testing.T, client *http.Client, base string, position int64) int {
	t.Helper()
	waitProjected(t, client, base, position)
	req, _ := http.NewRequest("GET", base+"/showings/"+s.show, nil)
	req.Header.Set("Ticketd-Min-Position", fmt.Sprint(position))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var showing struct{ Sold int }
	if err := json.NewDecoder(resp.Body).Decode(&showing); err != nil {
		t.Fatal(err)
	}
	return showing.Sold
}

// TestClusterSellsOutExactly sells out a showing through three serve
// --cluster processes on one PostgreSQL database, 30 buyers spread over
// them until no seat is left: exactly the capacity is sold, by the answers,
// the log and every instance's showing, and verify passes.
func TestClusterSellsOutExactly(t *testing.T) {
	c := startCluster(t, 3)
	client := &http.Client{Timeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 24))
	anyNode := func(rng *rand.Rand) string { return c.nodes[rng.IntN(len(c.nodes))].base }
	run := newSaleRun(t, client, c.nodes[0].base, 600)
	run.drive(t, client, rng, 30, "sellout", make(chan struct{}), anyNode).Wait()
	acked, sold := run.settle(t, client, rng, anyNode)
	if acked != 600 || sold != 600 {
		t.Fatalf("%d seats acknowledged, %d sold; want the capacity, 600", acked, sold)
	}
	head := run.checkLog(t, client, c.nodes[0].base, sold)
	for i, node := range c.nodes {
		if got := run.showingSold(t, client, node.base, head); got != 600 {
			t.Errorf("node %d shows %d seats sold, want 600", i, got)
		}
	}
	for i := range c.nodes {
		c.stop(i)
	}
	if code, stdout, stderr := runCLI(t, "", "verify", "--db", c.db); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestSelloutCrashSellsNoSeatTwice SIGKILLs the one process selling out a
// showing at random moments (TICKETD_CRASH_KILLS, default 4), on each
// engine, and restarts it; buyers then sell it out and every sale is sent
// again: the seats acknowledged plus those of sales that committed
// unanswered are exactly the showing's tickets in the log and its capacity,
// and verify passes.
func TestSelloutCrashSellsNoSeatTwice(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		bin := parallelBinaryTest(t)
		kills := envCount(t, "TICKETD_CRASH_KILLS", 4)
		db := e.Database(t, t.TempDir())
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		client := &http.Client{Timeout: 10 * time.Second}
		var run *saleRun
		for k := range kills {
			cmd, base := startProcess(t, bin, db)
			if run == nil {
				run = newSaleRun(t, client, base, 2000)
			}
			stop := make(chan struct{})
			wg := run.drive(t, client, rng, 8, fmt.Sprint("crash-", k), stop, func(*rand.Rand) string { return base })
			time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			close(stop)
			wg.Wait()
		}
		cmd, base := startProcess(t, bin, db)
		target := func(*rand.Rand) string { return base }
		run.drive(t, client, rng, 8, "after", make(chan struct{}), target).Wait()
		acked, sold := run.settle(t, client, rng, target)
		if sold != run.capacity {
			t.Errorf("%d seats sold once the showing is sold out, want its capacity %d", sold, run.capacity)
		}
		run.checkLog(t, client, base, sold)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("final shutdown: %v", err)
		}
		if code, stdout, stderr := runCLI(t, "", "verify", "--db", db); code != 0 {
			t.Fatalf("verify after %d kills: exit %d\n%s%s", kills, code, stdout, stderr)
		}
		t.Logf("sellout crash: %d kills, %d sales sent, %d seats acknowledged, %d sold of 2000", kills, len(run.sales), acked, sold)
	})
}

// TestClusterSelloutCrashSellsNoSeatTwice sells out a showing through three
// serve --cluster processes while the leader (every other kill) and the
// other instances are SIGKILLed and restarted for 6 s
// (TICKETD_CLUSTER_CRASH_SECONDS); buyers then sell it out and every sale
// is sent again: the seats acknowledged plus those of sales that committed
// unanswered are exactly the showing's tickets in the log, every
// instance's sold and its capacity, and verify passes.
func TestClusterSelloutCrashSellsNoSeatTwice(t *testing.T) {
	c := startCluster(t, 3)
	client := &http.Client{Timeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 25))
	anyNode := func(rng *rand.Rand) string { return c.nodes[rng.IntN(len(c.nodes))].base }
	run := newSaleRun(t, client, c.nodes[0].base, 1500)
	stop := make(chan struct{})
	wg := run.drive(t, client, rng, 9, "cluster-sellout", stop, anyNode)
	var leaderKills int
	length := time.Duration(envCount(t, "TICKETD_CLUSTER_CRASH_SECONDS", 6)) * time.Second
	for deadline, k := time.Now().Add(length), 0; time.Now().Before(deadline); k++ {
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		victim := rng.IntN(len(c.nodes))
		if current := c.leaders(); len(current) == 1 && k%2 == 0 {
			victim = current[0]
			leaderKills++
		}
		c.kill(victim)
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		c.start(victim)
		c.waitReady(victim)
	}
	close(stop)
	wg.Wait()
	if leaderKills == 0 {
		t.Error("the leader was never killed")
	}
	run.drive(t, client, rng, 9, "after", make(chan struct{}), anyNode).Wait()
	acked, sold := run.settle(t, client, rng, anyNode)
	if sold != run.capacity {
		t.Errorf("%d seats sold once the showing is sold out, want its capacity %d", sold, run.capacity)
	}
	head := run.checkLog(t, client, c.nodes[0].base, sold)
	for i, node := range c.nodes {
		if got := run.showingSold(t, client, node.base, head); got != sold {
			t.Errorf("node %d shows %d seats sold, want %d", i, got, sold)
		}
	}
	for i := range c.nodes {
		c.stop(i)
	}
	if code, stdout, stderr := runCLI(t, "", "verify", "--db", c.db); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("cluster sellout crash: %d leader kills, %d sales sent, %d seats acknowledged, %d sold of 1500", leaderKills, len(run.sales), acked, sold)
}
