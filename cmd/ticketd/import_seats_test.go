package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// TestImportRestoresTheShowingsSeats exports a log with a showing partly
// sold (a refund among the sales), a live hold, a released one and one
// bought, imports it into a fresh database and sells on: the imported
// database's counters decide as the original's would have, so no seat is
// sold past the capacity or a buyer's limit, the live hold keeps its seats
// until it expires (by the service's clock) and ended holds stay ended.
func TestImportRestoresTheShowingsSeats(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

		src := e.Config(t)
		src.Now = now
		svc := servicetest.Start(t, src)
		c := servicetest.NewClient(t, svc)
		r := c.Do("POST", "/showings", map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘",
			"starts_at": time.Now().Add(24 * time.Hour).Format(time.RFC3339), "capacity": 10, "price_krw": 15000, "per_buyer_limit": 4})
		wantStatus(t, r, 201)
		show := r.JSON(t)["id"].(string)
		issue := func(c *servicetest.Client, body map[string]any) servicetest.Response {
			body["showing_id"] = show
			return c.Do("POST", "/tickets/issue", body)
		}
		hold := func(user string, quantity, ttl int) string {
			r := c.Do("POST", "/showings/"+show+"/holds", map[string]any{"user_id": user, "quantity": quantity, "ttl_seconds": ttl})
			wantStatus(t, r, 201)
			return r.JSON(t)["hold_id"].(string)
		}
		wantStatus(t, issue(c, map[string]any{"user_id": "a", "quantity": 3}), 201)
		b := issue(c, map[string]any{"user_id": "b", "quantity": 2})
		wantStatus(t, b, 201)
		refund := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": b.JSON(t)["ticket_ids"].([]any)[:1]})
		wantStatus(t, refund, 200)
		live := hold("c", 2, 60)
		released := hold("d", 1, 30)
		wantStatus(t, c.Do("DELETE", "/holds/"+released, nil), 200)
		used := hold("a", 1, 30)
		wantStatus(t, c.Do("POST", "/tickets/issue", map[string]any{"hold_id": used, "user_id": "a"}), 201)
		wantSeats(t, c, show, 5, 2, 3)
		svc.Shutdown()

		code, export, stderr := runCLI(t, "", "export", "--db", src.DB)
		if code != 0 {
			t.Fatalf("export: %d %s", code, stderr)
		}
		file := filepath.Join(t.TempDir(), "log.jsonl")
		if err := os.WriteFile(file, []byte(export), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := e.Config(t)
		dst.Now = now
		if !service.IsPostgres(dst.DB) {
			if err := os.MkdirAll(filepath.Dir(dst.DB), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if code, out, stderr := runCLI(t, "", "import", "--db", dst.DB, "--in", file); code != 0 || !strings.Contains(out, "imported") {
			t.Fatalf("import: %d %s %s", code, out, stderr)
		}
		svc = servicetest.Start(t, dst)
		c = servicetest.NewClient(t, svc)
		wantSeats(t, c, show, 5, 2, 3)
		wantConflict(t, issue(c, map[string]any{"user_id": "a", "quantity": 1}), "limit-exceeded", "bought", 4)
		wantConflict(t, issue(c, map[string]any{"user_id": "e", "quantity": 4}), "sold-out", "available", 3)
		wantStatus(t, issue(c, map[string]any{"user_id": "e", "quantity": 3}), 201)
		wantConflict(t, issue(c, map[string]any{"user_id": "f", "quantity": 1}), "sold-out", "available", 0)
		wantConflict(t, c.Do("POST", "/tickets/issue", map[string]any{"hold_id": released, "user_id": "d"}), "hold-released", "", 0)
		wantConflict(t, c.Do("POST", "/tickets/issue", map[string]any{"hold_id": used, "user_id": "a"}), "hold-used", "", 0)

		offset.Store(int64(61 * time.Second)) // the live hold expires: its seats are free
		wantConflict(t, c.Do("POST", "/tickets/issue", map[string]any{"hold_id": live, "user_id": "c"}), "hold-expired", "", 0)
		wantStatus(t, issue(c, map[string]any{"user_id": "f", "quantity": 2}), 201)
		wantConflict(t, issue(c, map[string]any{"user_id": "g", "quantity": 1}), "sold-out", "available", 0)
		wantSeats(t, c, show, 10, 0, 0)
		svc.Shutdown()
		if code, out, stderr := runCLI(t, "", "verify", "--db", dst.DB); code != 0 {
			t.Fatalf("verify: %d %s %s", code, out, stderr)
		}
	})
}

func wantStatus(t *testing.T, r servicetest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// wantConflict fails t unless r is a 409 problem whose type ends in kind
// and, when member is set, whose member is want.
func wantConflict(t *testing.T, r servicetest.Response, kind, member string, want float64) {
	t.Helper()
	wantStatus(t, r, 409)
	body := r.JSON(t)
	if typ, _ := body["type"].(string); !strings.HasSuffix(typ, "/"+kind) || member != "" && body[member] != want {
		t.Fatalf("want %s with %s %v: %s", kind, member, want, r.Body)
	}
}

// wantSeats fails t unless showing show has sold, held and available seats.
func wantSeats(t *testing.T, c *servicetest.Client, show string, sold, held, available float64) {
	t.Helper()
	r := c.Do("GET", "/showings/"+show, nil)
	wantStatus(t, r, 200)
	if s := r.JSON(t); s["sold"] != sold || s["held"] != held || s["available"] != available {
		t.Fatalf("showing has sold %v held %v available %v, want %v %v %v", s["sold"], s["held"], s["available"], sold, held, available)
	}
}
