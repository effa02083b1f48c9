package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestVerifyAndReplayCoverTheSalesTables(t *testing.T) {
	t.Parallel()
	path, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	// The sales projection catches up on start; stop once it has all 14 events.
	cfg := servicetest.Config(t.TempDir())
	cfg.DB = path
	svc := servicetest.Start(t, cfg)
	servicetest.SalesOf(t, servicetest.NewClient(t, svc), "", servicetest.HeaderMinPosition, "14")
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "", "verify", "--db", path); code != 0 || !strings.Contains(out, "sales:     compared up to position 14") {
		t.Fatalf("verify of an untouched database: exit %d\n%s%s", code, out, errOut)
	}
	servicetest.Tamper(t, path, `UPDATE sales_totals SET revenue_krw = revenue_krw + 1 WHERE dimension = 'movie'`)
	servicetest.Tamper(t, path, `DELETE FROM sales_minutes`)
	code, out, _ := runCLI(t, "", "verify", "--db", path)
	if code != 1 || !regexp.MustCompile(`sales_differs: sales_totals movie '영화 제목' differs from the fold of the log up to position 14: log says issued 12, canceled 2, revenue_krw 150000, table has issued 12, canceled 2, revenue_krw 150001`).MatchString(out) ||
		!strings.Contains(out, "sales_differs: sales_minutes ") {
		t.Fatalf("verify of tampered sales tables: exit %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, "", "replay", "--db", path); code != 0 || !strings.Contains(out, "read models tickets, sales, showings rebuilt at position 14") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "", "verify", "--db", path); code != 0 {
		t.Fatalf("verify after replay: exit %d\n%s", code, out)
	}
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	if rows, _ := servicetest.SalesOf(t, c, "by=movie"); rows["영화 제목"] != [3]int64{12, 2, 150000} {
		t.Errorf("sales after replay and restart: %v", rows)
	}
}

func TestACleanStopLeavesNoProjectionBehindTheLog(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	svc := servicetest.Start(t, cfg)
	svc.Projector(projections.SalesCheckpoint).Stop() // commands wait only for the tickets projection
	<-svc.Projector(projections.SalesCheckpoint).Stopped()
	c := servicetest.NewClient(t, svc)
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "verify", "--db", cfg.DB, "--json")
	var rep struct {
		LastPosition    int64 `json:"last_position"`
		Checkpoint      int64 `json:"checkpoint"`
		SalesCheckpoint int64 `json:"sales_checkpoint"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("verify --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if rep.LastPosition != 3 || rep.Checkpoint != 3 || rep.SalesCheckpoint != 3 {
		t.Fatalf("after a clean stop: log at %d, tickets at %d, sales at %d; want all at 3", rep.LastPosition, rep.Checkpoint, rep.SalesCheckpoint)
	}
}
