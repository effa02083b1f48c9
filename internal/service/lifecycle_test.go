package service_test

import (
	"fmt"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestRestartKeepsTicketsAndIdempotencyKeys(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		first := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "restart-key")
		ids := first.JSON(t)["ticket_ids"].([]any)
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []any{ids[0]}})
		if err := svc.Shutdown(); err != nil {
			t.Fatal(err)
		}

		svc = servicetest.Start(t, cfg)
		c = servicetest.NewClient(t, svc)
		if tk := c.Do("GET", fmt.Sprint("/tickets/", ids[0]), nil).JSON(t); tk["status"] != "canceled" {
			t.Fatalf("after restart ticket = %v", tk)
		}
		r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "restart-key")
		if r.Status != 200 || string(r.Body) != string(first.Body) {
			t.Fatalf("key not honoured after restart: %d %s", r.Status, r.Body)
		}
		if r := c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1), "Idempotency-Key", "restart-key"); r.Status != 409 {
			t.Fatalf("changed request after restart = %d, want 409", r.Status)
		}
		c.IssueOK(servicetest.SeedIssue)
		events := c.Do("GET", "/events", nil).JSON(t)["events"].([]any)
		if len(events) != 5 || events[4].(map[string]any)["position"] != float64(5) {
			t.Fatalf("log after restart has %d events", len(events))
		}
	})
}
