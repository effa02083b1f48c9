package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

// heldStorage is a read models' storage whose tables of the model named
// held take no write (Apply) until open is closed; the other models' and
// every read pass through.
type heldStorage struct {
	projections.Storage
	held string
	open <-chan struct{}
}

func (s heldStorage) Tables(schema projections.Schema) projections.Tables {
	tables := s.Storage.Tables(schema)
	if schema.Name != s.held {
		return tables
	}
	return heldTables{tables, s.open}
}

type heldTables struct {
	projections.Tables
	open <-chan struct{}
}

func (t heldTables) Apply(ctx context.Context, prev, pos int64, changes []projections.Change) error {
	select {
	case <-t.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return t.Tables.Apply(ctx, prev, pos, changes)
}

// salesRows returns the rows and total of a GET /stats/sales answer, as
// JSON, without the position it reflects.
func salesRows(t *testing.T, r servicetest.Response) string {
	t.Helper()
	body := r.JSON(t)
	rows, err := json.Marshal([]any{body["rows"], body["total"]})
	if err != nil {
		t.Fatal(err)
	}
	return string(rows)
}

// The tickets model's stored version is the one an older build left, and
// its rows hold one that the log does not: the next start rebuilds it from
// the log, logging its progress. Its writes are held until the test has
// seen the rebuild: meanwhile its queries answer 503 with Retry-After,
// /readyz names it, and the sales and showings models serve. Once rebuilt,
// every ticket is served as the log has it, the stale row never.
func TestAVersionBumpedReadModelIsRebuiltFromTheLogWhileTheOthersServe(t *testing.T) {
	t.Parallel()
	var version int
	for _, m := range projections.Models(nil) {
		if m.Schema().Name == projections.TicketsCheckpoint {
			version = m.Schema().Version
		}
	}
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		cfg := e.Config(t)
		first := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, first)
		var ids []string
		for i := range 5 {
			ids = append(ids, c.IssueOK(servicetest.With(servicetest.SeedIssue, "user_id", "u"+string(rune('a'+i))))...)
		}
		if r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:3]}); r.Status != http.StatusOK {
			t.Fatalf("refund: %d %s", r.Status, r.Body)
		}
		showing := c.Do("POST", "/showings", map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘",
			"starts_at": "2099-01-01T19:00:00Z", "capacity": 10, "price_krw": 15000}).JSON(t)["id"].(string)
		want := map[string]string{}
		for _, id := range ids {
			want[id] = string(c.Do("GET", "/tickets/"+id, nil).Body)
		}
		head := fmt.Sprint(first.Store().Head())
		sales := salesRows(t, c.Do("GET", "/stats/sales", nil, servicetest.HeaderMinPosition, head))
		if err := first.Shutdown(); err != nil {
			t.Fatal(err)
		}

		servicetest.Tamper(t, cfg.DB, `UPDATE read_models SET version = ? WHERE name = ?`, version-1, projections.TicketsCheckpoint)
		servicetest.Tamper(t, cfg.DB, `UPDATE tickets SET memo = 'stale row', status = 'issued' WHERE id = ?`, ids[0])

		open := make(chan struct{})
		cfg.ReadTables = func(s projections.Storage) projections.Storage {
			return heldStorage{Storage: s, held: projections.TicketsCheckpoint, open: open}
		}
		svc, logs, _ := servicetest.StartLogged(t, cfg)
		var once sync.Once
		release := func() { once.Do(func() { close(open) }) }
		t.Cleanup(release)
		c = servicetest.NewClient(t, svc)

		for _, path := range []string{"/tickets/" + ids[0], "/tickets?limit=10"} {
			r := c.Do("GET", path, nil)
			if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), projections.TicketsCheckpoint) {
				t.Errorf("GET %s while the tickets model rebuilds: %d (Retry-After %q) %s; want 503 with Retry-After naming it",
					path, r.Status, r.Header.Get("Retry-After"), r.Body)
			}
		}
		if status, ready := c.Readyz(); status != http.StatusServiceUnavailable || !strings.Contains(ready.Detail, "tickets") {
			t.Errorf("/readyz while the tickets model rebuilds: %d %+v; want 503 naming it", status, ready)
		}
		if r := c.Do("GET", "/stats/sales", nil, servicetest.HeaderMinPosition, head); r.Status != http.StatusOK || salesRows(t, r) != sales {
			t.Errorf("sales while the tickets model rebuilds: %d %s; want 200 with the rows %s", r.Status, r.Body, sales)
		}
		if r := c.Do("GET", "/showings/"+showing, nil); r.Status != http.StatusOK {
			t.Errorf("showing while the tickets model rebuilds: %d %s", r.Status, r.Body)
		}
		for _, msg := range []string{"its version changed", "tickets projection rebuilding from the log"} {
			servicetest.WaitUntil(t, "the log says "+msg, func() bool { return strings.Contains(logs.String(), msg) })
		}

		release()
		servicetest.WaitUntil(t, "the tickets model serves", func() bool {
			return c.Do("GET", "/tickets/"+ids[0], nil).Status == http.StatusOK
		})
		for _, id := range ids {
			if got := string(c.Do("GET", "/tickets/"+id, nil).Body); got != want[id] {
				t.Errorf("ticket %s after the rebuild: %s; want it as the log has it: %s", id, got, want[id])
			}
		}
		var list struct{ Total int }
		if err := json.Unmarshal(c.Do("GET", "/tickets", nil).Body, &list); err != nil || list.Total != len(ids) {
			t.Errorf("tickets listed after the rebuild: %d (%v), want %d", list.Total, err, len(ids))
		}
		if status, ready := c.Readyz(); status != http.StatusOK {
			t.Errorf("/readyz after the rebuild: %d %+v", status, ready)
		}
		if !strings.Contains(logs.String(), "tickets projection rebuilt") {
			t.Errorf("no log line of the rebuild's end:\n%s", logs)
		}
	})
}
