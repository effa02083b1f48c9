package service_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// Every answer of the showings' operations, successes and every problem of
// the contract, conforms to the OpenAPI document (apiClient checks each),
// on every engine. The service's clock moves forward to expire a hold and
// close sales.
func TestShowingsAnswersConformToTheDocument(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		var offset atomic.Int64
		cfg := e.Config(t)
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c := servicetest.NewClient(t, servicetest.Start(t, cfg))
		want := func(r servicetest.Response, status int) servicetest.Response {
			t.Helper()
			if r.Status != status {
				t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
			}
			return r
		}
		schedule := map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘", "starts_at": time.Now().Add(time.Hour).Format(time.RFC3339),
			"capacity": 2, "price_krw": 15000, "per_buyer_limit": 2}
		want(c.Do("POST", "/showings", map[string]any{"capacity": 0}), 400)
		s := want(c.Do("POST", "/showings", schedule, "Idempotency-Key", "s1"), 201).JSON(t)
		want(c.Do("POST", "/showings", schedule, "Idempotency-Key", "s1"), 200)
		id := s["id"].(string)
		want(c.Do("GET", "/showings/"+id, nil), 200)
		want(c.Do("GET", "/showings/0193a000-0000-7000-8000-000000000099", nil), 404)
		want(c.Do("GET", "/showings?status=on_sale&limit=1", nil), 200)
		want(c.Do("GET", "/showings?status=sold", nil), 400)

		want(c.Do("POST", "/showings/"+id+"/holds", map[string]any{"ttl_seconds": 10}), 400)
		want(c.Do("POST", "/showings/0193a000-0000-7000-8000-000000000099/holds", map[string]any{"user_id": "u"}), 404)
		hold := want(c.Do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "u", "ttl_seconds": 30}), 201).JSON(t)["hold_id"].(string)
		want(c.Do("GET", "/holds/"+hold, nil), 200)
		want(c.Do("GET", "/holds/0193a000-0000-7000-8000-000000000099", nil), 404)
		want(c.Do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "u", "quantity": 2}), 409) // limit-exceeded
		want(c.Do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "v", "quantity": 2}), 409) // sold-out
		want(c.Do("POST", "/tickets/issue", map[string]any{"showing_id": id, "hold_id": hold, "user_id": "u"}), 400)
		offset.Store(int64(31 * time.Second))
		want(c.Do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": "u"}), 409) // hold-expired
		want(c.Do("DELETE", "/holds/"+hold, nil), 200)
		want(c.Do("DELETE", "/holds/0193a000-0000-7000-8000-000000000099", nil), 404)
		second := want(c.Do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "w"}), 201).JSON(t)["hold_id"].(string)
		want(c.Do("DELETE", "/holds/"+second, nil), 200)
		want(c.Do("POST", "/tickets/issue", map[string]any{"hold_id": second, "user_id": "w"}), 409) // hold-released
		third := want(c.Do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "x"}), 201).JSON(t)["hold_id"].(string)
		tickets := want(c.Do("POST", "/tickets/issue", map[string]any{"hold_id": third, "user_id": "x"}), 201).JSON(t)["ticket_ids"].([]any)
		want(c.Do("GET", "/tickets/"+tickets[0].(string), nil), 200)
		want(c.Do("DELETE", "/holds/"+third, nil), 409) // hold-used
		want(c.Do("POST", "/tickets/issue", map[string]any{"hold_id": third, "user_id": "x"}), 409)
		offset.Store(int64(2 * time.Hour))
		want(c.Do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "y"}), 409) // sales-closed
		want(c.Do("GET", "/showings?status=closed", nil), 200)
	})
}
