package service_test

import (
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestIdempotentIssueReplaysTheStoredResponse(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		first := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "key-1")
		if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first = %d, replayed header %q", first.Status, first.Header.Get("Idempotent-Replayed"))
		}
		// Same request in other key order and whitespace is the same request.
		reordered := `{ "memo":"VIP석", "quantity":2, "price_krw":15000,
		"movie_title":"영화 제목", "user_id":"user123", "theater_name":"CGV 강남", "ignored": 1 }`
		for i := 0; i < 2; i++ {
			r := c.Do("POST", "/tickets/issue", reordered, "Idempotency-Key", "key-1")
			if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "true" || string(r.Body) != string(first.Body) {
				t.Fatalf("replay %d = %d %q %s; want 200 with the stored body %s", i, r.Status, r.Header.Get("Idempotent-Replayed"), r.Body, first.Body)
			}
		}
		if n := c.LogHead(); n != 2 {
			t.Fatalf("log has %d events after replays, want 2", n)
		}

		// Defaults are applied before comparing: absent quantity equals 1, absent memo equals null.
		c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", servicetest.Deleted, "memo", servicetest.Deleted), "Idempotency-Key", "key-2")
		if r := c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1, "memo", nil), "Idempotency-Key", "key-2"); r.Status != 200 {
			t.Fatalf("explicit defaults = %d, want replay", r.Status)
		}
	})
}

func TestIdempotencyKeyConflicts(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		ids := c.IssueOK(servicetest.SeedIssue, "Idempotency-Key", "key-a")
		head := c.LogHead()
		for name, tc := range map[string]struct {
			path string
			body any
		}{
			"different body":     {"/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 3)},
			"different memo":     {"/tickets/issue", servicetest.With(servicetest.SeedIssue, "memo", nil)},
			"other endpoint":     {"/tickets/refund", map[string]any{"ticket_ids": ids}},
			"other endpoint bad": {"/tickets/refund", map[string]any{"ticket_ids": []string{"x"}}},
		} {
			r := c.Do("POST", tc.path, tc.body, "Idempotency-Key", "key-a")
			if r.Status != http.StatusConflict {
				t.Errorf("%s: %d %s, want 409", name, r.Status, r.Body)
			}
		}
		refund := map[string]any{"ticket_ids": ids[:1], "reason": "r"}
		first := c.Do("POST", "/tickets/refund", refund, "Idempotency-Key", "key-r")
		again := c.Do("POST", "/tickets/refund", refund, "Idempotency-Key", "key-r")
		if first.Status != 200 || again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || string(first.Body) != string(again.Body) {
			t.Fatalf("refund replay: %d %s / %d %s", first.Status, first.Body, again.Status, again.Body)
		}
		if r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]}, "Idempotency-Key", "key-r"); r.Status != 409 {
			t.Fatalf("refund with absent reason vs stored reason: %d, want 409", r.Status)
		}
		if c.LogHead() != head+1 {
			t.Fatalf("conflicting keys appended events")
		}
	})
}

func TestInvalidIdempotencyKeysAre400(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		for name, key := range map[string]string{
			"empty":     "",
			"too long":  strings.Repeat("k", 256),
			"non-ASCII": "키-1",
			"space":     "a b",
			"control":   "a\tb",
		} {
			r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", key)
			if r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{"Idempotency-Key"}) {
				t.Errorf("%s key: %d %s", name, r.Status, r.Body)
			}
		}
		r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "a", "Idempotency-Key", "b")
		if r.Status != 400 {
			t.Errorf("two keys: %d", r.Status)
		}
		if c.IssueOK(servicetest.SeedIssue, "Idempotency-Key", strings.Repeat("k", 255)) == nil {
			t.Fatal("255-character key refused")
		}
		if n := c.LogHead(); n != 2 {
			t.Fatalf("log has %d events, want 2", n)
		}
	})
}

func TestFailedValidationStoresNothingUnderTheKey(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		if r := c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "price_krw", 0), "Idempotency-Key", "key-v"); r.Status != 400 {
			t.Fatalf("invalid = %d", r.Status)
		}
		if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "key-v"); r.Status != http.StatusCreated {
			t.Fatalf("valid request after an invalid one with the same key = %d, want 201", r.Status)
		}
	})
}

func TestSameKeyInParallelExecutesOnce(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		const clients = 12
		responses := make([]servicetest.Response, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				responses[i] = c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "parallel-key")
			}(i)
		}
		wg.Wait()
		created, replayed := 0, 0
		var body string
		for _, r := range responses {
			switch r.Status {
			case http.StatusCreated:
				created++
				body = string(r.Body)
			case http.StatusOK:
				replayed++
			case http.StatusConflict:
			default:
				t.Fatalf("unexpected %d %s", r.Status, r.Body)
			}
		}
		if created != 1 {
			t.Fatalf("%d executions, want exactly 1", created)
		}
		for _, r := range responses {
			if r.Status == http.StatusOK && string(r.Body) != body {
				t.Fatalf("replayed body %s differs from %s", r.Body, body)
			}
		}
		if n := c.LogHead(); n != 2 {
			t.Fatalf("log has %d events, want 2 (one execution of quantity 2)", n)
		}
		t.Logf("created %d, replayed %d, conflicts %d", created, replayed, clients-created-replayed)
	})
}
