package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// crashRequest is one command the crash harness sent, with what it learned.
type crashRequest struct {
	key      string
	path     string
	body     []byte
	quantity int // tickets an issue asks for; 0 for a refund
	refunds  []string
	acked    bool   // a 2xx arrived before the kill
	answer   []byte // the body of that 2xx
}

// crashRun drives one ticketd process with concurrent commands until it is
// killed, and records every request.
type crashRun struct {
	mu       sync.Mutex
	requests []*crashRequest
	issued   []string // ticket ids of acknowledged issues, for refunds to pick from
}

func (r *crashRun) add(req *crashRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
}

func (r *crashRun) refundTargets(rng *rand.Rand) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.issued) == 0 {
		return nil
	}
	n := 1 + rng.IntN(3)
	var ids []string
	for range n {
		ids = append(ids, r.issued[rng.IntN(len(r.issued))])
	}
	return ids
}

func (r *crashRun) acknowledge(req *crashRequest, answer []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req.acked, req.answer = true, answer
	var issue struct {
		TicketIDs []string `json:"ticket_ids"`
	}
	if req.quantity > 0 && json.Unmarshal(answer, &issue) == nil {
		r.issued = append(r.issued, issue.TicketIDs...)
	}
}

// drive sends commands from one worker until stop is closed, each with the
// Idempotency-Key prefix-N to the base target picks: an issue of 1 to 3
// tickets for user, or, one time in three once some tickets are
// acknowledged, a refund of 1 to 3 of them. A 2xx is acknowledged; any
// answer but a 503 or none (the process died) fails t.
func (r *crashRun) drive(t *testing.T, client *http.Client, rng *rand.Rand, prefix, user string, stop <-chan struct{}, target func(*rand.Rand) string) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		req := &crashRequest{key: fmt.Sprintf("%s-%d", prefix, n)}
		if ids := r.refundTargets(rng); ids != nil && rng.IntN(3) == 0 {
			req.path, req.refunds = "/tickets/refund", ids
			req.body, _ = json.Marshal(map[string]any{"ticket_ids": ids, "reason": "crash test"})
		} else {
			req.path, req.quantity = "/tickets/issue", 1+rng.IntN(3)
			req.body, _ = json.Marshal(map[string]any{"theater_name": "CGV 강남", "user_id": user,
				"movie_title": "영화 제목", "price_krw": 15000, "quantity": req.quantity})
		}
		r.add(req)
		status, body := send(client, target(rng), req)
		if status >= 200 && status < 300 {
			r.acknowledge(req, body)
		} else if status != 0 && status != http.StatusServiceUnavailable {
			t.Errorf("%s %s: status %d: %s", req.path, req.key, status, body)
		}
	}
}

// startDrivers runs n workers of drive, worker w sending keys prefix-w-N
// for user prefix-user-w to the base target picks, until the returned
// function is called, which stops them and waits for them; it is also
// called when t ends.
func (r *crashRun) startDrivers(t *testing.T, client *http.Client, rng *rand.Rand, n int, prefix string, target func(*rand.Rand) string) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			r.drive(t, client, rand.New(rand.NewPCG(seed, uint64(w))), fmt.Sprint(prefix, "-", w), fmt.Sprint(prefix, "-user-", w), quit, target)
		}()
	}
	var once sync.Once
	stop = func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
	t.Cleanup(stop)
	return stop
}

// resend sends every request again with its key, each to the base target
// picks, once the traffic has stopped: an acknowledged one must be replayed
// with its first answer, never run again; an unanswered one either
// committed (replay) or did not (runs now), and its answer is kept. It
// returns how many were acknowledged.
func (r *crashRun) resend(t *testing.T, client *http.Client, rng *rand.Rand, target func(*rand.Rand) string) int {
	t.Helper()
	acked := 0
	for _, req := range r.requests {
		status, body := send(client, target(rng), req)
		switch {
		case req.acked && (status != http.StatusOK || !bytes.Equal(body, req.answer)):
			t.Errorf("acknowledged %s %s: retry answered %d %s, want 200 with %s", req.path, req.key, status, body, req.answer)
		case !req.acked && (status < 200 || status > 299):
			t.Errorf("unanswered %s %s: retry answered %d %s", req.path, req.key, status, body)
		}
		if req.acked {
			acked++
		} else {
			req.answer = body
		}
	}
	return acked
}

// envCount returns the positive integer the environment variable name
// holds, or def when it is unset; another value fails t.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// send posts req to base and reports the status and body; status 0 means no
// answer arrived (the process died first).
func send(client *http.Client, base string, req *crashRequest) (int, []byte) {
	httpReq, err := http.NewRequest("POST", base+req.path, bytes.NewReader(req.body))
	if err != nil {
		return 0, nil
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Idempotency-Key", req.key)
	resp, err := client.Do(httpReq)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, body
}

// startProcess starts the ticketd binary on db and waits until it answers.
func startProcess(t *testing.T, bin, db string) (*exec.Cmd, string) {
	t.Helper()
	addr := servicetest.FreeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--db", db, "--log-level", "error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	waitReady(t, base)
	return cmd, base
}

// TestCrashLosesNothing is the crash harness: it runs the real binary under
// concurrent issue and refund traffic, all with Idempotency-Keys, SIGKILLs it
// at random moments, restarts it, and then proves that every acknowledged
// request is in the log exactly once, that every request is all-or-nothing,
// that the log is gap-free with versions 1..n and an intact hash chain, and
// that the read table equals a fresh fold of the log.
// TICKETD_CRASH_KILLS sets the number of kills (default 5).
func TestCrashLosesNothing(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		if testing.Short() {
			t.Skip("builds and kills the binary")
		}
		t.Parallel()
		kills := envCount(t, "TICKETD_CRASH_KILLS", 5)
		bin, err := buildBinary()
		if err != nil {
			t.Fatal(err)
		}
		db := e.Database(t, t.TempDir())
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
		traffic := &crashRun{}
		client := &http.Client{Timeout: 10 * time.Second}

		for k := 0; k < kills; k++ {
			cmd, base := startProcess(t, bin, db)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				seed := rng.Uint64()
				go func() {
					defer wg.Done()
					traffic.drive(t, client, rand.New(rand.NewPCG(seed, uint64(w))), fmt.Sprintf("crash-%d-%d", k, w), fmt.Sprint("w", w), stop,
						func(*rand.Rand) string { return base })
				}()
			}
			time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			close(stop)
			wg.Wait()
		}

		cmd, base := startProcess(t, bin, db)
		acked := traffic.resend(t, client, rng, func(*rand.Rand) string { return base })
		checkCrashLog(t, client, base, traffic)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("final shutdown: %v", err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"verify", "--db", db}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("verify after %d kills: exit %d\n%s%s", kills, code, stdout.String(), stderr.String())
		}
		t.Logf("crash harness: %d kills, %d requests sent, %d acknowledged before a kill, requests lost: 0", kills, len(traffic.requests), acked)
		fmt.Printf("crash harness totals: kills=%d requests=%d acknowledged=%d lost=0\n", kills, len(traffic.requests), acked)
	})
}

// readLog pages through GET /events of the service at base (filter is
// further query parameters, such as "&type=TicketIssued") and returns every
// event, decoded into E.
func readLog[E any](t *testing.T, client *http.Client, base, filter string) []E {
	t.Helper()
	var events []E
	for after := int64(0); ; {
		resp, err := client.Get(fmt.Sprintf("%s/events?after=%d&limit=1000%s", base, after, filter))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Events    []E   `json:"events"`
			NextAfter int64 `json:"next_after"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			return events
		}
		events = append(events, page.Events...)
		after = page.NextAfter
	}
}

// checkCrashLog reads the whole log over HTTP and checks it against the
// requests: positions gap-free, versions 1..n, each issue's key on exactly
// quantity TicketIssued events, each ticket refunded at most once, and every
// ticket id an issue answered present exactly once. It returns the log's
// length.
func checkCrashLog(t *testing.T, client *http.Client, base string, traffic *crashRun) int64 {
	t.Helper()
	type event struct {
		Position int64  `json:"position"`
		StreamID string `json:"stream_id"`
		Version  int64  `json:"version"`
		Type     string `json:"type"`
		Metadata struct {
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"metadata"`
	}
	events := readLog[event](t, client, base, "")
	versions := map[string]int64{}
	issuedByKey := map[string]int{}
	issuedTickets := map[string]int{}
	refunds := map[string]int{}
	for i, e := range events {
		if e.Position != int64(i+1) {
			t.Fatalf("event %d has position %d: gap or duplicate", i, e.Position)
		}
		versions[e.StreamID]++
		if e.Version != versions[e.StreamID] {
			t.Fatalf("stream %s: version %d at position %d, want %d", e.StreamID, e.Version, e.Position, versions[e.StreamID])
		}
		switch e.Type {
		case "TicketIssued":
			issuedByKey[e.Metadata.IdempotencyKey]++
			issuedTickets[e.StreamID]++
		case "TicketRefunded":
			refunds[e.StreamID]++
		}
	}
	for _, req := range traffic.requests {
		if req.quantity == 0 {
			continue
		}
		if got := issuedByKey[req.key]; got != req.quantity {
			t.Errorf("issue %s of quantity %d has %d TicketIssued events: not all-or-nothing, or executed twice", req.key, req.quantity, got)
		}
		var answer struct {
			TicketIDs []string `json:"ticket_ids"`
		}
		if err := json.Unmarshal(req.answer, &answer); err != nil {
			t.Errorf("issue %s: answer %s: %v", req.key, req.answer, err)
		}
		for _, id := range answer.TicketIDs {
			if issuedTickets[id] != 1 {
				t.Errorf("ticket %s answered by %s is issued %d times in the log", id, req.key, issuedTickets[id])
			}
		}
	}
	for id, n := range refunds {
		if n > 1 {
			t.Errorf("ticket %s refunded %d times", id, n)
		}
	}
	return int64(len(events))
}
