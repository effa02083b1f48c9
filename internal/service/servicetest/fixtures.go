package servicetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// BuildStoppedDatabase runs a service on a new database of e, issues and
// refunds tickets through the API, stops it and returns the database's --db
// and the ticket ids.
func BuildStoppedDatabase(t *testing.T, e Engine) (string, []string) {
	t.Helper()
	cfg := e.Config(t)
	svc := Start(t, cfg)
	c := NewClient(t, svc)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, c.IssueOK(With(SeedIssue, "quantity", 2, "user_id", fmt.Sprint("u", i)))...)
	}
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[1], ids[4]}, "reason": "고객 요청"})
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return cfg.DB, ids
}

// IssueAndSaveHead issues quantity tickets on a fresh service over a
// database at path, stops it and returns the head it answered last.
func IssueAndSaveHead(t *testing.T, path string, quantity int) string {
	t.Helper()
	cfg := Config(t.TempDir())
	cfg.DB = path
	svc := Start(t, cfg)
	c := NewClient(t, svc)
	c.IssueOK(With(SeedIssue, "quantity", quantity))
	head := c.AuditHead()
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return head
}

// CorruptLog is a stopped database of 14 events (see BuildStoppedDatabase)
// whose event at CorruptPosition had its column set to text that is not JSON.
type CorruptLog struct {
	Path   string
	Ticket string // the ticket whose stream holds the corrupt event
}

// CorruptPosition is the position of the corrupt event of a CorruptLog.
const CorruptPosition = 5

// BuildCorruptLog builds a CorruptLog whose events column is corrupt.
func BuildCorruptLog(t *testing.T, column string) CorruptLog {
	t.Helper()
	path, ids := BuildStoppedDatabase(t, SQLite)
	Tamper(t, path, `UPDATE events SET `+column+` = '{"theater_name": "CGV' WHERE position = ?`, CorruptPosition)
	return CorruptLog{Path: path, Ticket: ids[CorruptPosition-1]}
}

// SalesOf returns GET /stats/sales?QUERY's rows as name -> [issued, canceled,
// revenue_krw], and the whole body, failing the test on any non-200.
func SalesOf(t *testing.T, c *Client, query string, headers ...string) (map[string][3]int64, map[string]any) {
	t.Helper()
	r := c.Do("GET", "/stats/sales?"+query, nil, headers...)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /stats/sales?%s: %d %s", query, r.Status, r.Body)
	}
	body := r.JSON(t)
	rows := map[string][3]int64{}
	for _, row := range body["rows"].([]any) {
		m := row.(map[string]any)
		rows[m["name"].(string)] = [3]int64{int64(m["issued"].(float64)), int64(m["canceled"].(float64)), int64(m["revenue_krw"].(float64))}
	}
	return rows, body
}

// Get returns the status and body of GET url.
func Get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// RepoFile returns the text of the repository's file at path, such as
// "docs/operating.md".
func RepoFile(t *testing.T, path string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// VerifyCaughtUp requires the stopped database db to pass the audit that
// `ticketd verify` runs (projections.Audit: the log, each read model's
// tables against a fresh fold) with every read model's checkpoint at the
// log's head, so that the audit compared every event.
func VerifyCaughtUp(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	store, tables, err := service.OpenDatabase(ctx, db, service.DatabaseOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if rep, err := projections.Audit(ctx, store, tables, nil); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	for _, m := range projections.Models(store) {
		cp, err := tables.Tables(m.Schema()).Checkpoint(ctx)
		if head := store.Head(); err != nil || cp != head {
			t.Fatalf("after a clean stop: %s checkpoint %d (%v), log head %d", m.Schema().Name, cp, err, head)
		}
	}
}
