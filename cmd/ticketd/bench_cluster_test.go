package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/pgtest"
)

// TestBenchClusterModeMeasuresSQLiteAndEachInstanceCount runs the cluster
// mode briefly: one row for the SQLite reference and one per instance
// count, each with issues and GETs measured, ratios to SQLite, and the
// append-lock wait and hold on PostgreSQL only; its databases are dropped.
func TestBenchClusterModeMeasuresSQLiteAndEachInstanceCount(t *testing.T) {
	bin := parallelBinaryTest(t)
	server := pgtest.ServerURL(t)
	cmd := exec.Command(bin, "bench", "--db", server, "--cluster-instances", "1,2", "--clients", "4", "--duration", "300ms", "--seed-tickets", "30", "--json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench --cluster-instances 1,2: %v\n%s", err, out)
	}
	var rep clusterReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	want := []struct {
		engine    string
		instances int64
	}{{"sqlite", 1}, {"postgres", 1}, {"postgres", 2}}
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d deployments, want %d:\n%s", len(rep.Rows), len(want), out)
	}
	for i, row := range rep.Rows {
		if row.Engine != want[i].engine || row.Instances != want[i].instances {
			t.Errorf("deployment %d is %s with %d instances, want %s with %d", i, row.Engine, row.Instances, want[i].engine, want[i].instances)
		}
		if row.Issue.Requests == 0 || row.Get.Requests == 0 || row.IssueRatio <= 0 || row.GetRatio <= 0 {
			t.Errorf("%s/%d measured nothing: %+v", row.Engine, row.Instances, row)
		}
		if onPostgres := row.Engine == "postgres"; (row.LockWait != nil) != onPostgres || (row.LockHold != nil) != onPostgres {
			t.Errorf("%s/%d: append-lock wait %v, hold %v; want both on PostgreSQL only", row.Engine, row.Instances, row.LockWait, row.LockHold)
		}
	}
	if rep.Rows[0].IssueRatio != 1 || rep.Rows[0].GetRatio != 1 {
		t.Errorf("the SQLite reference has ratios %v and %v to itself, want 1", rep.Rows[0].IssueRatio, rep.Rows[0].GetRatio)
	}
	conn := pgtest.Connect(t, server)
	defer conn.Close(context.Background())
	var left int
	prefix := fmt.Sprintf("ticketd_bench_%d_%%", cmd.Process.Pid)
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname LIKE $1`, prefix).Scan(&left); err != nil || left != 0 {
		t.Fatalf("databases %s left after bench: %d, %v", prefix, left, err)
	}
}

func TestBenchClusterInstancesNeedPostgresAndCountsFrom1To16(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--cluster-instances", "1,2"},
		{"--db", "postgres://127.0.0.1:1/x", "--cluster-instances", "0"},
		{"--db", "postgres://127.0.0.1:1/x", "--cluster-instances", "1,17"},
		{"--db", "postgres://127.0.0.1:1/x", "--cluster-instances", "two"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"bench"}, args...)...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "cluster-instances") {
			t.Errorf("bench %q: exit %d, stderr %q; want 2 and one line naming --cluster-instances", args, code, stderr)
		}
	}
}
