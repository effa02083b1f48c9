package service_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestAsOfShowsHistory(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		before := time.Now().UTC()
		time.Sleep(2 * time.Millisecond)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))
		id := ids[0]
		time.Sleep(2 * time.Millisecond)
		between := time.Now().UTC()
		time.Sleep(2 * time.Millisecond)
		c.IssueOK(servicetest.SeedIssue) // positions 2 and 3
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids, "reason": "고객 요청"})
		after := time.Now().UTC()

		status := func(asOf string) (int, string) {
			r := c.Do("GET", "/tickets/"+id+"?as_of="+url.QueryEscape(asOf), nil)
			if r.Status != 200 {
				return r.Status, ""
			}
			return 200, r.JSON(t)["status"].(string)
		}
		tests := []struct {
			asOf   string
			code   int
			status string
		}{
			{"0", 404, ""},
			{before.Format(time.RFC3339Nano), 404, ""},
			{"1", 200, "issued"},
			{"3", 200, "issued"},
			{between.Format(time.RFC3339Nano), 200, "issued"},
			{"4", 200, "canceled"},
			{"999", 200, "canceled"},
			{after.Format(time.RFC3339Nano), 200, "canceled"},
			{after.Add(time.Second).In(time.FixedZone("KST", 9*3600)).Format(time.RFC3339), 200, "canceled"},
		}
		for _, tt := range tests {
			if code, st := status(tt.asOf); code != tt.code || st != tt.status {
				t.Errorf("as_of=%s: %d %q, want %d %q", tt.asOf, code, st, tt.code, tt.status)
			}
		}
		full := c.Do("GET", "/tickets/"+id+"?as_of=4", nil).JSON(t)
		live := c.Do("GET", "/tickets/"+id, nil).JSON(t)
		if fmt.Sprint(full) != fmt.Sprint(live) {
			t.Fatalf("as_of the head differs from the live ticket:\n%v\n%v", full, live)
		}
		for _, bad := range []string{"-1", "yesterday", "2026-13-01T00:00:00Z", "1.5"} {
			r := c.Do("GET", "/tickets/"+id+"?as_of="+url.QueryEscape(bad), nil)
			if r.Status != 400 || fmt.Sprint(servicetest.ProblemFields(t, r)) != "[as_of]" {
				t.Errorf("as_of=%s: %d %s", bad, r.Status, r.Body)
			}
		}
		if r := c.Do("GET", "/tickets/"+uuid.NewString()+"?as_of=4", nil); r.Status != 404 {
			t.Errorf("unknown ticket as_of: %d", r.Status)
		}
	})
}
