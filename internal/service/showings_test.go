package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
)

// testClock is the one clock of a service under test: real time moved
// forward by Advance, so holds expire and sales close without sleeping.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// engines are the databases the showings' tests run on: a SQLite file, and
// a PostgreSQL database of the test's own when TICKETD_TEST_POSTGRES_URL
// names a server.
func engines(t *testing.T, run func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, filepath.Join(t.TempDir(), "app.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		run(t, pgtest.FreshDatabase(t))
	})
}

// start starts a service on db with clock, shut down at the end of t.
func start(t *testing.T, db string, clock *testClock) *client {
	t.Helper()
	cfg := service.DefaultConfig()
	cfg.Addr, cfg.DB, cfg.MinFreeBytes, cfg.Now = "127.0.0.1:0", db, 0, clock.Now
	cfg.ConsistencyTimeout = 10 * time.Second
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown() })
	return &client{t: t, base: "http://" + svc.Addr(), http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
}

type client struct {
	t    testing.TB
	base string
	http *http.Client
}

// response is an answer: status, headers and the JSON body decoded.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
}

// do sends method path with body (JSON when not nil) and header pairs.
func (c *client) do(method, path string, body any, header ...string) response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		c.t.Errorf("%s %s: %d with Content-Type %q", method, path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return out
}

// want fails unless r has status and, for a problem, a type ending in
// kind; it returns r.
func (r response) want(t testing.TB, status int, kind string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %v", r.Status, status, r.Body)
	}
	if kind != "" && !strings.HasSuffix(fmt.Sprint(r.Body["type"]), "/"+kind) {
		t.Fatalf("problem type %v, want .../%s: %v", r.Body["type"], kind, r.Body)
	}
	return r
}

// fields returns the fields a validation problem names, in order.
func (r response) fields() []string {
	var out []string
	list, _ := r.Body["errors"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

func (r response) num(key string) int64 {
	n, _ := r.Body[key].(float64)
	return int64(n)
}

func (r response) str(key string) string { s, _ := r.Body[key].(string); return s }

// schedule schedules a showing starting in a day and returns its id.
func (c *client) schedule(capacity int, perBuyer any) string {
	c.t.Helper()
	r := c.do("POST", "/showings", map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘",
		"starts_at": time.Now().Add(24 * time.Hour).Format(time.RFC3339), "capacity": capacity, "price_krw": 15000, "per_buyer_limit": perBuyer})
	r.want(c.t, 201, "")
	return r.str("id")
}

func (c *client) showing(id string) response {
	c.t.Helper()
	return c.do("GET", "/showings/"+id, nil).want(c.t, 200, "")
}

// verify fails t unless the service's audit (log, seats, read models) is ok.
func (c *client) verify() {
	c.t.Helper()
	r := c.do("GET", "/audit/verify", nil).want(c.t, 200, "")
	if r.Body["ok"] != true {
		c.t.Fatalf("audit: %v", r.Body)
	}
}

func TestShowingsContract(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db string) {
		clock := &testClock{}
		c := start(t, db, clock)

		t.Run("schedule names every bad field", func(t *testing.T) {
			r := c.do("POST", "/showings", map[string]any{"theater_name": " ", "movie_title": "파묘", "starts_at": "2020-01-01T00:00:00Z",
				"capacity": 0, "price_krw": 1.5, "per_buyer_limit": 101}).want(t, 400, "validation-error")
			if got, want := r.fields(), []string{"theater_name", "starts_at", "capacity", "price_krw", "per_buyer_limit"}; !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v", got, want)
			}
			r = c.do("POST", "/showings", map[string]any{"starts_at": "2030-12-24T19:30:00"}).want(t, 400, "validation-error")
			if got, want := r.fields(), []string{"theater_name", "movie_title", "starts_at", "capacity", "price_krw"}; !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v", got, want)
			}
		})

		id := c.schedule(5, 3)
		t.Run("a showing is served and listed", func(t *testing.T) {
			s := c.showing(id)
			if s.num("capacity") != 5 || s.num("available") != 5 || s.str("status") != "on_sale" || s.num("per_buyer_limit") != 3 {
				t.Errorf("showing %v", s.Body)
			}
			c.do("GET", "/showings/0193a000-0000-7000-8000-000000000099", nil).want(t, 404, "not-found")
			c.do("GET", "/showings/not-a-uuid", nil).want(t, 404, "not-found")
			list := c.do("GET", "/showings?theater_name=&status=&starts_after=&limit=", nil).want(t, 200, "")
			if list.num("total") < 1 || list.num("limit") != 100 {
				t.Errorf("list %v", list.Body)
			}
			r := c.do("GET", "/showings?status=bogus&starts_after=yesterday&starts_before=2030-01-01&limit=0&offset=-1", nil).want(t, 400, "validation-error")
			if got, want := r.fields(), []string{"status", "starts_after", "starts_before", "limit", "offset"}; !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v", got, want)
			}
			none := c.do("GET", "/showings?movie_title=nope", nil).want(t, 200, "")
			if none.num("total") != 0 {
				t.Errorf("list %v", none.Body)
			}
		})

		t.Run("issue against a showing refuses what breaks its rules", func(t *testing.T) {
			r := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "hold_id": id, "user_id": "u"}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"showing_id", "hold_id"}) {
				t.Errorf("fields %v", got)
			}
			r = c.do("POST", "/tickets/issue", map[string]any{"showing_id": "0193a000-0000-7000-8000-000000000099", "user_id": "u"}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"showing_id"}) {
				t.Errorf("fields %v", got)
			}
			r = c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "u", "theater_name": "other", "price_krw": 1}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"theater_name", "price_krw"}) {
				t.Errorf("fields %v", got)
			}
			r = c.do("POST", "/tickets/issue", map[string]any{"hold_id": "0193a000-0000-7000-8000-000000000099", "user_id": "u"}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"hold_id"}) {
				t.Errorf("fields %v", got)
			}
		})

		var soldTicket string
		t.Run("sell, limit per buyer, sold out, refund returns the seat", func(t *testing.T) {
			r := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "a", "quantity": 2}).want(t, 201, "")
			if r.Header.Get("Ticketd-Position") == "" {
				t.Error("no Ticketd-Position")
			}
			summary := r.Body["summary"].(map[string]any)
			if summary["showing_id"] != id || summary["theater_name"] != "CGV 강남" || summary["price_krw"] != 15000.0 {
				t.Errorf("summary %v", summary)
			}
			soldTicket = r.Body["ticket_ids"].([]any)[0].(string)
			ticket := c.do("GET", "/tickets/"+soldTicket, nil).want(t, 200, "")
			if ticket.str("showing_id") != id {
				t.Errorf("ticket %v", ticket.Body)
			}
			limit := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "a", "quantity": 2}).want(t, 409, "limit-exceeded")
			if limit.num("limit") != 3 || limit.num("bought") != 2 {
				t.Errorf("limit-exceeded %v", limit.Body)
			}
			c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "b", "quantity": 3}).want(t, 201, "")
			sold := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "c"}).want(t, 409, "sold-out")
			if sold.num("available") != 0 {
				t.Errorf("sold-out %v", sold.Body)
			}
			if s := c.showing(id); s.num("sold") != 5 || s.num("available") != 0 || s.str("status") != "sold_out" {
				t.Errorf("showing %v", s.Body)
			}
			c.do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{soldTicket}}).want(t, 200, "")
			if s := c.showing(id); s.num("sold") != 4 || s.num("available") != 1 || s.str("status") != "on_sale" {
				t.Errorf("showing after a refund %v", s.Body)
			}
			// The refund counts no more against its buyer: a has 1 of 3.
			c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "a", "quantity": 2}).want(t, 409, "sold-out")
			c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "a"}).want(t, 201, "")
		})

		t.Run("holds: buy, release, expire", func(t *testing.T) {
			hid := c.schedule(4, nil)
			c.do("POST", "/showings/0193a000-0000-7000-8000-000000000099/holds", map[string]any{"user_id": "h"}).want(t, 404, "not-found")
			r := c.do("POST", "/showings/"+hid+"/holds", map[string]any{"user_id": "", "quantity": 11, "ttl_seconds": 29}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"user_id", "quantity", "ttl_seconds"}) {
				t.Errorf("fields %v", got)
			}
			c.do("POST", "/showings/"+hid+"/holds", map[string]any{"user_id": "h", "quantity": 5}).want(t, 409, "sold-out")
			h := c.do("POST", "/showings/"+hid+"/holds", map[string]any{"user_id": "h", "quantity": 2}).want(t, 201, "")
			hold := h.str("hold_id")
			if h.Header.Get("Location") != "/holds/"+hold || h.str("status") != "active" || h.str("showing_id") != hid {
				t.Errorf("hold %v %v", h.Header, h.Body)
			}
			if s := c.showing(hid); s.num("held") != 2 || s.num("available") != 2 {
				t.Errorf("showing %v", s.Body)
			}
			r = c.do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": "other", "quantity": 1}).want(t, 400, "validation-error")
			if got := r.fields(); !slices.Equal(got, []string{"user_id", "quantity"}) {
				t.Errorf("fields %v", got)
			}
			bought := c.do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": "h"}).want(t, 201, "")
			if bought.num("count") != 2 {
				t.Errorf("bought %v", bought.Body)
			}
			c.do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": "h"}).want(t, 409, "hold-used")
			c.do("DELETE", "/holds/"+hold, nil).want(t, 409, "hold-used")
			if g := c.do("GET", "/holds/"+hold, nil).want(t, 200, ""); g.str("status") != "used" {
				t.Errorf("hold %v", g.Body)
			}
			if s := c.showing(hid); s.num("sold") != 2 || s.num("held") != 0 {
				t.Errorf("showing %v", s.Body)
			}

			released := c.do("POST", "/showings/"+hid+"/holds", map[string]any{"user_id": "r"}).want(t, 201, "").str("hold_id")
			if d := c.do("DELETE", "/holds/"+released, nil).want(t, 200, ""); d.str("status") != "released" {
				t.Errorf("release %v", d.Body)
			}
			if d := c.do("DELETE", "/holds/"+released, nil).want(t, 200, ""); d.str("status") != "released" {
				t.Errorf("release again %v", d.Body)
			}
			c.do("POST", "/tickets/issue", map[string]any{"hold_id": released, "user_id": "r"}).want(t, 409, "hold-released")
			c.do("DELETE", "/holds/0193a000-0000-7000-8000-000000000099", nil).want(t, 404, "not-found")
			c.do("GET", "/holds/0193a000-0000-7000-8000-000000000099", nil).want(t, 404, "not-found")

			expiring := c.do("POST", "/showings/"+hid+"/holds", map[string]any{"user_id": "e", "quantity": 2, "ttl_seconds": 30}).want(t, 201, "")
			if s := c.showing(hid); s.num("held") != 2 || s.str("status") != "sold_out" {
				t.Errorf("showing %v", s.Body)
			}
			clock.Advance(31 * time.Second)
			if g := c.do("GET", "/holds/"+expiring.str("hold_id"), nil).want(t, 200, ""); g.str("status") != "expired" {
				t.Errorf("hold %v", g.Body)
			}
			if s := c.showing(hid); s.num("held") != 0 || s.num("available") != 2 {
				t.Errorf("showing after expiry %v", s.Body)
			}
			c.do("POST", "/tickets/issue", map[string]any{"hold_id": expiring.str("hold_id"), "user_id": "e"}).want(t, 409, "hold-expired")
			if d := c.do("DELETE", "/holds/"+expiring.str("hold_id"), nil).want(t, 200, ""); d.str("status") != "expired" {
				t.Errorf("release of an expired hold %v", d.Body)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				ev := c.do("GET", "/events?type=HoldExpired", nil).want(t, 200, "")
				if events := ev.Body["events"].([]any); len(events) > 0 {
					data := events[0].(map[string]any)["data"].(map[string]any)
					if data["hold_id"] != expiring.str("hold_id") || events[0].(map[string]any)["stream_id"] != hid {
						t.Errorf("HoldExpired %v", events[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no HoldExpired within 5 s of expires_at")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})

		t.Run("sales close at the start", func(t *testing.T) {
			clock.Advance(25 * time.Hour)
			c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "late"}).want(t, 409, "sales-closed")
			c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": "late"}).want(t, 409, "sales-closed")
			if s := c.showing(id); s.str("status") != "closed" {
				t.Errorf("showing %v", s.Body)
			}
			if l := c.do("GET", "/showings?status=closed&theater_name=CGV%20%EA%B0%95%EB%82%A8", nil).want(t, 200, ""); l.num("total") < 2 {
				t.Errorf("closed showings %v", l.Body)
			}
		})

		t.Run("idempotency on the new commands", func(t *testing.T) {
			body := map[string]any{"theater_name": "T", "movie_title": "M", "starts_at": clock.Now().Add(time.Hour).Format(time.RFC3339), "capacity": 2, "price_krw": 1000}
			first := c.do("POST", "/showings", body, "Idempotency-Key", "schedule-1").want(t, 201, "")
			again := c.do("POST", "/showings", body, "Idempotency-Key", "schedule-1").want(t, 200, "")
			if again.Header.Get("Idempotent-Replayed") != "true" || again.str("id") != first.str("id") {
				t.Errorf("replay %v %v", again.Header, again.Body)
			}
			body["capacity"] = 3
			c.do("POST", "/showings", body, "Idempotency-Key", "schedule-1").want(t, 409, "conflict")
			sid := first.str("id")
			h := c.do("POST", "/showings/"+sid+"/holds", map[string]any{"user_id": "k"}, "Idempotency-Key", "hold-1").want(t, 201, "")
			hr := c.do("POST", "/showings/"+sid+"/holds", map[string]any{"user_id": "k", "quantity": 1, "ttl_seconds": 600}, "Idempotency-Key", "hold-1").want(t, 200, "")
			if hr.str("hold_id") != h.str("hold_id") {
				t.Errorf("hold replay %v", hr.Body)
			}
			c.do("POST", "/tickets/issue", map[string]any{"showing_id": sid, "user_id": "k"}, "Idempotency-Key", "hold-1").want(t, 409, "conflict")
			d := c.do("DELETE", "/holds/"+h.str("hold_id"), nil, "Idempotency-Key", "release-1").want(t, 200, "")
			dr := c.do("DELETE", "/holds/"+h.str("hold_id"), nil, "Idempotency-Key", "release-1").want(t, 200, "")
			if dr.Header.Get("Idempotent-Replayed") != "true" || d.str("status") != "released" {
				t.Errorf("release replay %v", dr.Header)
			}
			i := c.do("POST", "/tickets/issue", map[string]any{"showing_id": sid, "user_id": "k", "quantity": 2}, "Idempotency-Key", "issue-1").want(t, 201, "")
			ir := c.do("POST", "/tickets/issue", map[string]any{"quantity": 2, "user_id": "k", "showing_id": sid}, "Idempotency-Key", "issue-1").want(t, 200, "")
			if fmt.Sprint(ir.Body["ticket_ids"]) != fmt.Sprint(i.Body["ticket_ids"]) {
				t.Errorf("issue replay %v", ir.Body)
			}
			if s := c.showing(sid); s.num("sold") != 2 {
				t.Errorf("showing %v", s.Body)
			}
			c.do("POST", "/showings", body, "Idempotency-Key", "").want(t, 400, "validation-error")
		})
		c.verify()
	})
}

// Buyers race on one showing over real HTTP until it is sold out: exactly
// its capacity is sold, and the log verifies.
func TestConcurrentBuyersSellOutExactly(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db string) {
		c := start(t, db, &testClock{})
		const capacity, buyers = 500, 256
		id := c.schedule(capacity, nil)
		var sold, refused atomic.Int64
		var wg sync.WaitGroup
		for b := range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := 1 + b%4
				for {
					r := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": fmt.Sprintf("buyer-%d", b), "quantity": q})
					switch {
					case r.Status == 201:
						sold.Add(int64(q))
					case r.Status == 409 && r.num("available") < int64(q):
						refused.Add(1)
						if r.num("available") == 0 {
							return
						}
						q = 1
					default:
						t.Errorf("buy: %d %v", r.Status, r.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
		if sold.Load() != capacity {
			t.Errorf("sold %d seats, capacity %d", sold.Load(), capacity)
		}
		if s := c.showing(id); s.num("sold") != capacity || s.str("status") != "sold_out" {
			t.Errorf("showing %v", s.Body)
		}
		t.Logf("%d buyers sold %d seats; %d sold-out answers", buyers, sold.Load(), refused.Load())
		c.verify()
	})
}

// Holds expire while buyers race for the seats they free: the seats come
// back at expires_at, no more than the capacity is ever sold, every hold
// gets its HoldExpired, and the log verifies.
func TestHoldsExpireWhileBuyersRace(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db string) {
		clock := &testClock{}
		c := start(t, db, clock)
		const capacity = 40
		id := c.schedule(capacity, nil)
		var holds []string
		for i := range capacity / 2 {
			holds = append(holds, c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": fmt.Sprintf("holder-%d", i), "quantity": 2, "ttl_seconds": 30}).want(t, 201, "").str("hold_id"))
		}
		c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": "early"}).want(t, 409, "sold-out")
		// Half the holders buy in time; the rest let their holds run out.
		for _, h := range holds[:len(holds)/2] {
			c.do("POST", "/tickets/issue", map[string]any{"hold_id": h, "user_id": c.do("GET", "/holds/"+h, nil).str("user_id")}).want(t, 201, "")
		}
		clock.Advance(30 * time.Second)
		var sold atomic.Int64
		var wg sync.WaitGroup
		for b := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					r := c.do("POST", "/tickets/issue", map[string]any{"showing_id": id, "user_id": fmt.Sprintf("racer-%d", b)})
					switch {
					case r.Status == 201:
						sold.Add(1)
					case r.Status == 409 && r.num("available") == 0:
						return
					default:
						t.Errorf("buy: %d %v", r.Status, r.Body)
						return
					}
				}
			}()
		}
		// Late buyers on expired holds race the racers and the expiry duty.
		for i := len(holds) / 2; i < len(holds); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.do("POST", "/tickets/issue", map[string]any{"hold_id": holds[i], "user_id": fmt.Sprintf("holder-%d", i)})
				if r.Status != 409 || !strings.HasSuffix(r.str("type"), "/hold-expired") {
					t.Errorf("buy on an expired hold: %d %v", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		if want := int64(capacity / 2); sold.Load() != want {
			t.Errorf("racers bought %d seats freed by expiry, want %d", sold.Load(), want)
		}
		if s := c.showing(id); s.num("sold") != capacity || s.num("held") != 0 {
			t.Errorf("showing %v", s.Body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			ev := c.do("GET", "/events?type=HoldExpired&limit=1000", nil).want(t, 200, "")
			if n := len(ev.Body["events"].([]any)); n == len(holds)/2 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("%d HoldExpired events 5 s after expiry, want %d", n, len(holds)/2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.verify()
	})
}

// Holds race on one hot showing over real HTTP, more seats asked than it
// has: every hold answers 201 or 409 sold-out, none 503 (a hold is decided
// by the log's reservation, not by the showing stream's version), exactly
// the capacity is held; then the holds are bought and released at once,
// each answered as it asked, and the log verifies.
func TestConcurrentHoldsOnAHotShowingNeverConflict(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db string) {
		c := start(t, db, &testClock{})
		const capacity, holders, quantity = 100, 64, 2
		id := c.schedule(capacity, nil)
		var mu sync.Mutex
		var held []string
		soldOut := 0
		var wg sync.WaitGroup
		for h := range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.do("POST", "/showings/"+id+"/holds", map[string]any{"user_id": fmt.Sprintf("holder-%d", h), "quantity": quantity})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.Status == 201:
					held = append(held, r.str("hold_id"))
				case r.Status == 409 && strings.HasSuffix(r.str("type"), "/sold-out"):
					soldOut++
				default:
					t.Errorf("hold %d: %d %v", h, r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		if len(held)*quantity != capacity || soldOut != holders-len(held) {
			t.Fatalf("%d holds of %d seats and %d sold-out answers; want %d seats held, the rest sold out", len(held), quantity, soldOut, capacity)
		}
		if s := c.showing(id); s.num("held") != capacity || s.num("available") != 0 || s.str("status") != "sold_out" {
			t.Errorf("showing after the holds: %v", s.Body)
		}
		for i, hold := range held {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					c.do("POST", "/tickets/issue", map[string]any{"hold_id": hold, "user_id": c.do("GET", "/holds/"+hold, nil).str("user_id")}).want(t, 201, "")
				} else if r := c.do("DELETE", "/holds/"+hold, nil).want(t, 200, ""); r.str("status") != "released" {
					t.Errorf("release of %s: %v", hold, r.Body)
				}
			}()
		}
		wg.Wait()
		if s := c.showing(id); s.num("sold") != capacity/2 || s.num("held") != 0 || s.num("available") != capacity/2 {
			t.Errorf("showing after half the holds were bought and half released: %v", s.Body)
		}
		c.verify()
	})
}
