package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore/parquetlog"
	"github.com/ticketd/ticketd/eventstore/parquetlog/parquettest"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// exportFolder checks an export folder as parquettest.Folder does, and
// that it starts at position 1; it returns its manifest and positions.
func exportFolder(t *testing.T, dir string) (parquetlog.Manifest, []int64) {
	t.Helper()
	m, positions := parquettest.Folder(t, dir)
	if len(positions) > 0 && positions[0] != 1 {
		t.Errorf("the folder starts at position %d", positions[0])
	}
	return m, positions
}

func TestExportParquetBadFlagsAreOneLineAndExit2(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "app.db")
	seedLog(t, db, 3)
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--format", "parquet"}, "--out"},
		{[]string{"--out", out}, "--out is for --format parquet"},
		{[]string{"--format", "csv", "--out", out}, "--out is for --format parquet"},
		{[]string{"--format", "parquet", "--out", out, "--type", "TicketIssued"}, "--type"},
		{[]string{"--format", "parquet", "--out", out, "--after", "9", "--until", "3"}, "--until"},
		{[]string{"--format", "parquet", "--out", out, "--after", "-1"}, "--after"},
		{[]string{"--format", "parquet", "--out", out, "--until", "x"}, "until"},
	} {
		code, stdout, stderr := runCLI(t, "", append([]string{"export", "--db", db}, c.args...)...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.says) {
			t.Errorf("export %v: exit %d, stdout %q, stderr %q; want exit 2 and one line saying %s", c.args, code, stdout, stderr, c.says)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused export created %s", out)
	}
}

func TestExportParquetIntoAnUnwritableFolderIsOneLine(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "app.db")
	seedLog(t, db, 3)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{file, filepath.Join(file, "out")} {
		code, stdout, stderr := runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out)
		if code != 1 || stdout != "" {
			t.Errorf("--out %s: exit %d, stdout %q", out, code, stdout)
		}
		assertOneLine(t, "export --out "+out, stderr, out)
	}
}

var exportedLine = regexp.MustCompile(`^exported (\d+) events in (\d+) files? to (.+); (.+) ends at (\d+):([0-9a-f]{64})\n$`)

func TestExportParquetRunsContinueAndEndOnAHeadVerifyAccepts(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		db, _ := servicetest.BuildStoppedDatabase(t, e) // 14 events
		out := filepath.Join(t.TempDir(), "parquet")
		code, stdout, stderr := runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out, "--until", "5")
		m := exportedLine.FindStringSubmatch(stdout)
		if code != 0 || m == nil || m[1] != "5" || m[2] != "1" || m[5] != "5" {
			t.Fatalf("first run: exit %d, %q %s", code, stdout, stderr)
		}
		head := m[5] + ":" + m[6]
		if code, _, stderr := runCLI(t, "", "verify", "--db", db, "--expect-head", head); code != 0 {
			t.Errorf("verify --expect-head %s (the manifest's end): exit %d %s", head, code, stderr)
		}
		manifest, _ := exportFolder(t, out)
		if last := manifest.Files[len(manifest.Files)-1]; fmt.Sprintf("%d:%s", last.LastPosition, last.LastHash) != head {
			t.Errorf("the manifest ends at %d:%s, the command said %s", last.LastPosition, last.LastHash, head)
		}

		code, stdout, _ = runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out)
		if m := exportedLine.FindStringSubmatch(stdout); code != 0 || m == nil || m[1] != "9" || m[5] != "14" {
			t.Fatalf("second run: exit %d, %q", code, stdout)
		}
		code, stdout, _ = runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out)
		if m := exportedLine.FindStringSubmatch(stdout); code != 0 || m == nil || m[1] != "0" || m[2] != "0" || m[5] != "14" {
			t.Fatalf("run with nothing new: exit %d, %q", code, stdout)
		}
		if _, positions := exportFolder(t, out); len(positions) != 14 {
			t.Errorf("the folder holds %d events, want 14", len(positions))
		}
		code, _, stderr = runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out, "--after", "3")
		if code != 2 || !strings.Contains(stderr, "ends at position 14") {
			t.Errorf("--after 3 into a folder that ends at 14: exit %d %s", code, stderr)
		}
		assertOneLine(t, "--after 3", stderr, filepath.Join(out, "manifest.json"))
	})
}

// TestExportParquetStoppedBySIGINTLeavesAConsistentFolder interrupts the
// real binary exporting a log spread over 100 days (a file a day) once some files
// are listed: it exits 1 with one line, the manifest lists only whole
// files and the folder holds nothing else; the next run finishes the log,
// every event once.
func TestExportParquetStoppedBySIGINTLeavesAConsistentFolder(t *testing.T) {
	bin := parallelBinaryTest(t)
	db := filepath.Join(t.TempDir(), "app.db")
	if out, err := exec.Command(bin, "seed", "--db", db, "--tickets", "8000", "--batch", "80", "--refund-every", "0", "--span", "2400h").CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	out := filepath.Join(t.TempDir(), "parquet")
	cmd := exec.Command(bin, "export", "--db", db, "--format", "parquet", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for listed := 0; listed < 3; time.Sleep(time.Millisecond) {
		var m parquetlog.Manifest
		if b, err := os.ReadFile(filepath.Join(out, "manifest.json")); err == nil && json.Unmarshal(b, &m) == nil {
			listed = len(m.Files)
		}
		if time.Now().After(deadline) {
			t.Fatal("the export listed no 3 files within a minute")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("export stopped by SIGINT: %v, exit %d, stdout %q, stderr %q; want exit 1 and one line", err, code, stdout.String(), stderr.String())
	}
	manifest, positions := exportFolder(t, out)
	if len(positions) >= 8000 || !strings.Contains(stderr.String(), fmt.Sprintf("up to position %d", len(positions))) {
		t.Fatalf("interrupted after %d files, %d events: %s", len(manifest.Files), len(positions), stderr.String())
	}
	if code, stdout, stderr := runCLI(t, "", "export", "--db", db, "--format", "parquet", "--out", out); code != 0 {
		t.Fatalf("the next run: exit %d %s%s", code, stdout, stderr)
	}
	if _, positions := exportFolder(t, out); len(positions) != 8000 {
		t.Errorf("after the next run the folder holds %d events, want 8000", len(positions))
	}
}

func TestEventsExportParquetServesARangeOfTheLog(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 4))
		refund := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[2]}})
		if refund.Status != 200 {
			t.Fatalf("refund: %d %s", refund.Status, refund.Body)
		}
		r := c.Do("GET", "/events/export.parquet", nil, "Ticketd-Min-Position", "5")
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/vnd.apache.parquet" {
			t.Fatalf("GET /events/export.parquet: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		var log struct{ Events []map[string]any }
		if err := json.Unmarshal(c.Do("GET", "/events", nil).Body, &log); err != nil || len(log.Events) != 5 {
			t.Fatalf("GET /events: %v %d events", err, len(log.Events))
		}
		rows := parquettest.Rows(t, r.Body)
		if len(rows) != 5 {
			t.Fatalf("%d rows, want 5", len(rows))
		}
		for i, ev := range log.Events {
			row, data := rows[i], ev["data"].(map[string]any)
			if row["position"] != int64(i+1) || row["id"] != ev["id"] || row["stream_id"] != ev["stream_id"] || row["type"] != ev["type"] || row["hash"] != ev["hash"] {
				t.Errorf("row %d %v is not event %v", i, row, ev)
			}
			if ev["type"] == "TicketIssued" && (row["theater_name"] != data["theater_name"] || row["price_krw"] != int64(data["price_krw"].(float64)) || row["reason"] != nil) {
				t.Errorf("issue row %d %v, data %v", i, row, data)
			}
			if ev["type"] == "TicketRefunded" && (row["theater_name"] != nil || row["price_krw"] != nil) {
				t.Errorf("refund row %d carries issue columns: %v", i, row)
			}
		}

		page := parquettest.Rows(t, c.Do("GET", "/events/export.parquet?after=2&limit=2", nil).Body)
		if len(page) != 2 || page[0]["position"] != int64(3) || page[1]["position"] != int64(4) {
			t.Errorf("after=2&limit=2: %v", page)
		}
		if empty := c.Do("GET", "/events/export.parquet?after=5&limit=", nil); empty.Status != 200 || len(parquettest.Rows(t, empty.Body)) != 0 {
			t.Errorf("after the head: %d, want 200 and a file of no rows", empty.Status)
		}
		if head := c.Do("HEAD", "/events/export.parquet", nil); head.Status != 200 || head.Header.Get("Content-Type") != "application/vnd.apache.parquet" || len(head.Body) != 0 {
			t.Errorf("HEAD: %d %q", head.Status, head.Header.Get("Content-Type"))
		}
	})
}

func TestEventsExportParquetRefusesBadParametersNamingEach(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	for query, fields := range map[string][]string{
		"after=-1":                  {"after"},
		"after=x&limit=0":           {"after", "limit"},
		"limit=1000001":             {"limit"},
		"limit=1.5":                 {"limit"},
		"after=1e3&limit=100000000": {"after", "limit"},
	} {
		r := c.Do("GET", "/events/export.parquet?"+query, nil)
		var problem struct{ Errors []struct{ Field string } }
		json.Unmarshal(r.Body, &problem)
		var got []string
		for _, e := range problem.Errors {
			got = append(got, e.Field)
		}
		if r.Status != 400 || !slices.Equal(got, fields) {
			t.Errorf("?%s: %d naming %v, want 400 naming %v", query, r.Status, got, fields)
		}
	}
	if r := c.Do("GET", "/events/export.parquet?limit=1000000", nil); r.Status != 200 {
		t.Errorf("limit=1000000: %d", r.Status)
	}
}
