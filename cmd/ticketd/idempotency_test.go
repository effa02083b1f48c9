package main

import (
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestIdempotentIssueReplaysTheStoredResponse(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		c := e.startClient(t)
		first := c.do("POST", "/tickets/issue", seedIssue, "Idempotency-Key", "key-1")
		if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first = %d, replayed header %q", first.status, first.header.Get("Idempotent-Replayed"))
		}
		// Same request in other key order and whitespace is the same request.
		reordered := `{ "memo":"VIP석", "quantity":2, "price_krw":15000,
		"movie_title":"영화 제목", "user_id":"user123", "theater_name":"CGV 강남", "ignored": 1 }`
		for i := 0; i < 2; i++ {
			r := c.do("POST", "/tickets/issue", reordered, "Idempotency-Key", "key-1")
			if r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "true" || string(r.body) != string(first.body) {
				t.Fatalf("replay %d = %d %q %s; want 200 with the stored body %s", i, r.status, r.header.Get("Idempotent-Replayed"), r.body, first.body)
			}
		}
		if n := c.logHead(); n != 2 {
			t.Fatalf("log has %d events after replays, want 2", n)
		}

		// Defaults are applied before comparing: absent quantity equals 1, absent memo equals null.
		c.do("POST", "/tickets/issue", with(seedIssue, "quantity", deleted, "memo", deleted), "Idempotency-Key", "key-2")
		if r := c.do("POST", "/tickets/issue", with(seedIssue, "quantity", 1, "memo", nil), "Idempotency-Key", "key-2"); r.status != 200 {
			t.Fatalf("explicit defaults = %d, want replay", r.status)
		}
	})
}

func TestIdempotencyKeyConflicts(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		c := e.startClient(t)
		ids := c.issueOK(seedIssue, "Idempotency-Key", "key-a")
		head := c.logHead()
		for name, tc := range map[string]struct {
			path string
			body any
		}{
			"different body":     {"/tickets/issue", with(seedIssue, "quantity", 3)},
			"different memo":     {"/tickets/issue", with(seedIssue, "memo", nil)},
			"other endpoint":     {"/tickets/refund", map[string]any{"ticket_ids": ids}},
			"other endpoint bad": {"/tickets/refund", map[string]any{"ticket_ids": []string{"x"}}},
		} {
			r := c.do("POST", tc.path, tc.body, "Idempotency-Key", "key-a")
			if r.status != http.StatusConflict {
				t.Errorf("%s: %d %s, want 409", name, r.status, r.body)
			}
		}
		refund := map[string]any{"ticket_ids": ids[:1], "reason": "r"}
		first := c.do("POST", "/tickets/refund", refund, "Idempotency-Key", "key-r")
		again := c.do("POST", "/tickets/refund", refund, "Idempotency-Key", "key-r")
		if first.status != 200 || again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" || string(first.body) != string(again.body) {
			t.Fatalf("refund replay: %d %s / %d %s", first.status, first.body, again.status, again.body)
		}
		if r := c.do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]}, "Idempotency-Key", "key-r"); r.status != 409 {
			t.Fatalf("refund with absent reason vs stored reason: %d, want 409", r.status)
		}
		if c.logHead() != head+1 {
			t.Fatalf("conflicting keys appended events")
		}
	})
}

func TestInvalidIdempotencyKeysAre400(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		c := e.startClient(t)
		for name, key := range map[string]string{
			"empty":     "",
			"too long":  strings.Repeat("k", 256),
			"non-ASCII": "키-1",
			"space":     "a b",
			"control":   "a\tb",
		} {
			r := c.do("POST", "/tickets/issue", seedIssue, "Idempotency-Key", key)
			if r.status != 400 || !reflect.DeepEqual(problemFields(t, r), []string{"Idempotency-Key"}) {
				t.Errorf("%s key: %d %s", name, r.status, r.body)
			}
		}
		r := c.do("POST", "/tickets/issue", seedIssue, "Idempotency-Key", "a", "Idempotency-Key", "b")
		if r.status != 400 {
			t.Errorf("two keys: %d", r.status)
		}
		if c.issueOK(seedIssue, "Idempotency-Key", strings.Repeat("k", 255)) == nil {
			t.Fatal("255-character key refused")
		}
		if n := c.logHead(); n != 2 {
			t.Fatalf("log has %d events, want 2", n)
		}
	})
}

func TestFailedValidationStoresNothingUnderTheKey(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		c := e.startClient(t)
		if r := c.do("POST", "/tickets/issue", with(seedIssue, "price_krw", 0), "Idempotency-Key", "key-v"); r.status != 400 {
			t.Fatalf("invalid = %d", r.status)
		}
		if r := c.do("POST", "/tickets/issue", seedIssue, "Idempotency-Key", "key-v"); r.status != http.StatusCreated {
			t.Fatalf("valid request after an invalid one with the same key = %d, want 201", r.status)
		}
	})
}

func TestSameKeyInParallelExecutesOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		c := e.startClient(t)
		const clients = 12
		responses := make([]response, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				responses[i] = c.do("POST", "/tickets/issue", seedIssue, "Idempotency-Key", "parallel-key")
			}(i)
		}
		wg.Wait()
		created, replayed := 0, 0
		var body string
		for _, r := range responses {
			switch r.status {
			case http.StatusCreated:
				created++
				body = string(r.body)
			case http.StatusOK:
				replayed++
			case http.StatusConflict:
			default:
				t.Fatalf("unexpected %d %s", r.status, r.body)
			}
		}
		if created != 1 {
			t.Fatalf("%d executions, want exactly 1", created)
		}
		for _, r := range responses {
			if r.status == http.StatusOK && string(r.body) != body {
				t.Fatalf("replayed body %s differs from %s", r.body, body)
			}
		}
		if n := c.logHead(); n != 2 {
			t.Fatalf("log has %d events, want 2 (one execution of quantity 2)", n)
		}
		t.Logf("created %d, replayed %d, conflicts %d", created, replayed, clients-created-replayed)
	})
}
