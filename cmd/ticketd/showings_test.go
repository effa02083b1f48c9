package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// Every answer of the showings' operations, successes and every problem of
// the contract, conforms to the OpenAPI document (apiClient checks each),
// on every engine. The service's clock moves forward to expire a hold and
// close sales.
func TestShowingsAnswersConformToTheDocument(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		t.Parallel()
		var offset atomic.Int64
		cfg := e.config(t)
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c := newClient(t, mustStart(t, cfg))
		want := func(r response, status int) response {
			t.Helper()
			if r.status != status {
				t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
			}
			return r
		}
		schedule := map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘", "starts_at": time.Now().Add(time.Hour).Format(time.RFC3339),
			"capacity": 2, "price_krw": 15000, "per_buyer_limit": 2}
		want(c.do("POST", "/showings", map[string]any{"capacity": 0}), 400)
		s := want(c.do("POST", "/showings", schedule, "Idempotency-Key", "s1"), 201).json(t)
		want(c.do("POST", "/showings", schedule, "Idempotency-Key", "s1"), 200)
		id := s["id"].(string)
		want(c.do("GET", "/showings/"+id, nil), 200)
		want(c.do("GET", "/showings/0193a000-0000-7000-8000-000000000099", nil), 404)
		want(c.do("GET", "/showings?status=on_sale&limit=1", nil), 200)
		want(c.do("GET", "/showings?status=sold", nil), 400)

		want(c.do("POST", "/showings/"+id+"/holds", map[string]any{"ttl_seconds": 10}), 400)
		want(c.do("POST", "/showings/0193a000-0000-7000-8000-000000000099/holds", map[string]any{"user_id": "u"}), 404)
		hold := want(c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "u", "ttl_seconds": 30}), 201).json(t)["hold_id"].(string)
		want(c.do("GET", "/holds/"+hold, nil), 200)
		want(c.do("GET", "/holds/0193a000-0000-7000-8000-000000000099", nil), 404)
		want(c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "u", "quantity": 2}), 409) // limit-exceeded
		want(c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "v", "quantity": 2}), 409) // sold-out
		want(c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "hold_id": hold, "user_id": "u"}), 400)
		offset.Store(int64(31 * time.Second))
		want(c.do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": "u"}), 409) // hold-expired
		want(c.do("DELETE", "/holds/"+hold, nil), 200)
		want(c.do("DELETE", "/holds/0193a000-0000-7000-8000-000000000099", nil), 404)
		second := want(c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "w"}), 201).json(t)["hold_id"].(string)
		want(c.do("DELETE", "/holds/"+second, nil), 200)
		want(c.do("POST", "/tickets/issue", map[string]any{"hold_id": second, "user_id": "w"}), 409) // hold-released
		third := want(c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "x"}), 201).json(t)["hold_id"].(string)
		tickets := want(c.do("POST", "/tickets/issue", map[string]any{"hold_id": third, "user_id": "x"}), 201).json(t)["ticket_ids"].([]any)
		want(c.do("GET", "/tickets/"+tickets[0].(string), nil), 200)
		want(c.do("DELETE", "/holds/"+third, nil), 409) // hold-used
		want(c.do("POST", "/tickets/issue", map[string]any{"hold_id": third, "user_id": "x"}), 409)
		offset.Store(int64(2 * time.Hour))
		want(c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "y"}), 409) // sales-closed
		want(c.do("GET", "/showings?status=closed", nil), 200)
	})
}
