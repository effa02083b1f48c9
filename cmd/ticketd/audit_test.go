package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

// runCLI runs ticketd with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func copyFile(t *testing.T, from string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return to
}

func TestVerifyPassesAnUntouchedLog(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		path, _ := servicetest.BuildStoppedDatabase(t, e)
		code, out, errOut := runCLI(t, "", "verify", "--db", path)
		if code != 0 || !strings.Contains(out, "OK: the hash chain holds") || !strings.Contains(out, "events:    14 checked") {
			t.Fatalf("verify exit %d:\n%s%s", code, out, errOut)
		}
		code, out, _ = runCLI(t, "", "verify", "--db", path, "--json")
		var rep projections.AuditReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Events != 14 || rep.Tickets != 12 || rep.Streams != 12 || len(rep.LastHash) != 64 {
			t.Fatalf("verify --json exit %d: %+v %v\n%s", code, rep, err, out)
		}
	})
}

// The tampering is done to a copy of the SQLite file; the PostgreSQL log's
// constraints refuse some of it, and the store suite tampers with both.
func TestVerifyCatchesEveryKindOfTamperingWithTheSQLiteFile(t *testing.T) {
	t.Parallel()
	path, ids := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	tests := []struct {
		name     string
		query    string
		args     []any
		kind     string
		position int64
		ticket   string
	}{
		{"one byte of one event's data", `UPDATE events SET data = replace(data, '15000', '15001') WHERE position = 5`, nil,
			eventstore.ProblemHashMismatch, 5, ""},
		{"edited metadata", `UPDATE events SET metadata = replace(metadata, 'request_id', 'request_ID') WHERE position = 3`, nil,
			eventstore.ProblemHashMismatch, 3, ""},
		{"a deleted event", `DELETE FROM events WHERE position = 7`, nil, eventstore.ProblemMissingEvents, 7, ""},
		{"two rows' data swapped", `UPDATE events SET data = CASE position WHEN 2 THEN (SELECT data FROM events WHERE position = 4)
			ELSE (SELECT data FROM events WHERE position = 2) END WHERE position IN (2, 4)`, nil, eventstore.ProblemHashMismatch, 2, ""},
		{"two events reordered", `CREATE TEMP TABLE moved AS SELECT * FROM events WHERE position IN (9, 10);
			DELETE FROM events WHERE position IN (9, 10);
			INSERT INTO events SELECT 19 - position, id, stream_id, version, type, data, metadata, occurred_at, prev_hash, hash FROM moved`, nil,
			eventstore.ProblemBrokenLink, 9, ""},
		{"an inserted event", `INSERT INTO events (position, id, stream_id, version, type, data, metadata, occurred_at, prev_hash, hash)
			SELECT 15, 'forged', stream_id, 2, 'TicketRefunded', '{"reason":null}', '{}', occurred_at, hash, hash FROM events WHERE position = 1`, nil,
			eventstore.ProblemHashMismatch, 15, ""},
		{"a changed read-table row", `UPDATE tickets SET price_krw = 1 WHERE id = ?`, []any{ids[3]}, projections.ProblemTicketDiffers, 0, ids[3]},
		{"a deleted read-table row", `DELETE FROM tickets WHERE id = ?`, []any{ids[6]}, projections.ProblemTicketMissing, 0, ids[6]},
		{"a forged read-table row", `INSERT INTO tickets SELECT 999, 'forged-ticket', theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version, showing_id FROM tickets LIMIT 1`, nil,
			projections.ProblemTicketUnexpected, 0, "forged-ticket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := copyFile(t, path)
			servicetest.Tamper(t, db, tt.query, tt.args...)
			code, out, _ := runCLI(t, "", "verify", "--db", db, "--json")
			var rep projections.AuditReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("verify --json: %v\n%s", err, out)
			}
			if code != 1 || rep.OK {
				t.Fatalf("verify exit %d ok=%v; want 1 and not ok:\n%s", code, rep.OK, out)
			}
			found := false
			for _, p := range rep.List {
				if p.Kind == tt.kind && (tt.position == 0 || p.Position == tt.position) && (tt.ticket == "" || p.TicketID == tt.ticket) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no %s problem naming position %d / ticket %q:\n%s", tt.kind, tt.position, tt.ticket, out)
			}
			if tt.position > 0 && (rep.FirstBreak == nil || rep.FirstBreak.Position != tt.position) {
				t.Fatalf("first break = %+v, want position %d", rep.FirstBreak, tt.position)
			}
			code, text, _ := runCLI(t, "", "verify", "--db", db)
			want := fmt.Sprintf("first break is at position %d", tt.position)
			if tt.position == 0 {
				want = tt.ticket
			}
			if code != 1 || !strings.Contains(text, "FAILED") || !strings.Contains(text, want) {
				t.Fatalf("verify text exit %d lacks %q:\n%s", code, want, text)
			}
		})
	}
}

func TestVerifyOnALiveDatabaseAndOverHTTP(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		ids := c.IssueOK(servicetest.SeedIssue)
		if code, out, errOut := runCLI(t, "", "verify", "--db", cfg.DB); code != 0 {
			t.Fatalf("verify on a live database: exit %d\n%s%s", code, out, errOut)
		}
		r := c.Do("GET", "/audit/verify", nil)
		if rep := r.JSON(t); r.Status != 200 || rep["ok"] != true || rep["events"] != float64(2) || rep["tickets"] != float64(2) {
			t.Fatalf("GET /audit/verify = %d %s", r.Status, r.Body)
		}
		servicetest.Tamper(t, cfg.DB, `UPDATE tickets SET status = 'canceled' WHERE id = ?`, ids[0])
		rep := c.Do("GET", "/audit/verify", nil).JSON(t)
		if rep["ok"] != false || !strings.Contains(fmt.Sprint(rep["problems"]), ids[0]) {
			t.Fatalf("tampered live database: %v", rep)
		}
	})
}

// seedLog appends n issue events in large atomic batches, straight through
// the store's append path.
func seedLog(t *testing.T, path string, n int) {
	t.Helper()
	store, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for done := 0; done < n; {
		batch := min(1000, n-done)
		req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "seed", CorrelationID: "seed"}}
		for i := 0; i < batch; i++ {
			req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: uuid.NewString(), Events: []domain.Event{
				domain.TicketIssued{TheaterName: "CGV 강남", UserID: fmt.Sprint("user", (done+i)%97), MovieTitle: "영화 <제목> & more", PriceKRW: 15000},
			}})
		}
		if _, err := store.Append(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		done += batch
	}
}

// runBinary runs the ticketd binary bin with args and returns its stdout
// and its peak resident set size in bytes, as the kernel's high-water mark
// VmHWM last read while it ran (the rusage of a child started from a large
// test process starts at the parent's size). It fails the test when the
// command does not exit 0.
func runBinary(t *testing.T, bin string, args ...string) (string, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			if hwm := highWaterRSS(cmd.Process.Pid); hwm > 0 {
				peak.Store(hwm)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		t.Fatalf("ticketd %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String(), peak.Load()
}

// highWaterRSS returns the VmHWM of process pid in bytes, 0 when it cannot
// be read (the process is gone or not yet exec'd).
func highWaterRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(status), "\nVmHWM:")
	line, _, _ := strings.Cut(rest, "\n")
	kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(line), " kB"), 10, 64)
	if !ok || err != nil {
		return 0
	}
	return kb << 10
}

// TestExportImportRoundTripsWithIdenticalHashes moves a 60,000-event log
// through export and import with the real binary, so the commands run at
// full speed and their memory is measured per process (the peak RSS); it can
// therefore run in parallel with the other tests.
func TestExportImportRoundTripsWithIdenticalHashes(t *testing.T) {
	bin := parallelBinaryTest(t)
	// The small log is large enough to fill SQLite's page caches (2 MB
	// per connection, ten connections), which a log of a few thousand
	// events leaves mostly empty.
	small := roundTrip(t, bin, 20_000)
	large := roundTrip(t, bin, 60_000)
	// Constant memory: both commands stream, so moving three times the
	// events costs each process far less extra memory than the log's size
	// (the runtime, SQLite's page caches and uncollected garbage are the
	// same; import's rebuild of the read models leaves garbage the
	// collector has not yet returned, more on a loaded machine), where a
	// command that held the log would need all of it.
	limit := large.size / 3
	t.Logf("peak RSS: export %d MB for %d events, %d MB for %d (%d MB log); import %d MB, %d MB",
		small.exportRSS>>20, small.events, large.exportRSS>>20, large.events, large.size>>20, small.importRSS>>20, large.importRSS>>20)
	if large.exportRSS-small.exportRSS > limit || large.importRSS-small.importRSS > limit {
		t.Fatalf("memory grows with the log: from %d to %d events, export +%d MB, import +%d MB peak RSS (%d MB log)",
			small.events, large.events, (large.exportRSS-small.exportRSS)>>20, (large.importRSS-small.importRSS)>>20, large.size>>20)
	}
}

// roundTripResult is what roundTrip measured.
type roundTripResult struct {
	events, size, exportRSS, importRSS int64
}

// roundTrip seeds a log of n tickets with the binary, exports it, imports
// the export into a fresh database and checks that both verify, that the
// import exports the same bytes and ends on the same hash.
func roundTrip(t *testing.T, bin string, n int) roundTripResult {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	runBinary(t, bin, "seed", "--db", src, "--tickets", fmt.Sprint(n), "--refund-every", "0")
	export, exportRSS := runBinary(t, bin, "export", "--db", src)
	exportFile := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(exportFile, []byte(export), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst.db")
	out, importRSS := runBinary(t, bin, "import", "--db", dst, "--in", exportFile)
	if !strings.Contains(out, fmt.Sprintf("imported %d events", n)) {
		t.Fatalf("import: %s", out)
	}
	if lines := strings.Count(export, "\n"); lines != n {
		t.Fatalf("export has %d lines, want %d", lines, n)
	}
	for _, db := range []string{src, dst} {
		runBinary(t, bin, "verify", "--db", db)
	}
	if again, _ := runBinary(t, bin, "export", "--db", dst); again != export {
		t.Fatal("the export of the imported database differs from the original export")
	}
	srcStore, _ := sqlite.Open(src, sqlite.Options{ReadOnly: true})
	dstStore, _ := sqlite.Open(dst, sqlite.Options{ReadOnly: true})
	defer srcStore.Close()
	defer dstStore.Close()
	if srcStore.LastHash() != dstStore.LastHash() {
		t.Fatalf("last hash %s != %s", srcStore.LastHash(), dstStore.LastHash())
	}
	return roundTripResult{events: int64(n), size: int64(len(export)), exportRSS: exportRSS, importRSS: importRSS}
}

func TestExportOptionsAndCSV(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		path, ids := servicetest.BuildStoppedDatabase(t, e)
		code, out, _ := runCLI(t, "", "export", "--db", path, "--after", "2", "--until", "5")
		if code != 0 || strings.Count(out, "\n") != 3 || !strings.HasPrefix(out, `{"position":3,`) {
			t.Fatalf("export --after 2 --until 5: exit %d\n%s", code, out)
		}
		code, out, _ = runCLI(t, "", "export", "--db", path, "--type", "TicketRefunded")
		if code != 0 || strings.Count(out, "\n") != 2 || strings.Contains(out, "TicketIssued") {
			t.Fatalf("export --type: %s", out)
		}
		code, out, _ = runCLI(t, "", "export", "--db", path, "--format", "csv", "--type", "TicketRefunded")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 || lines[0] != strings.Join(csvColumns, ",") || !strings.Contains(lines[1], ids[1]) || !strings.Contains(lines[1], "고객 요청") {
			t.Fatalf("csv export:\n%s", out)
		}
		for _, args := range [][]string{{"--format", "xml"}, {"--type", "Nope"}, {"--after", "-1"}, {"--after", "5", "--until", "5"}, {"--after", "6", "--until", "5"}} {
			if code, _, _ := runCLI(t, "", append([]string{"export", "--db", path}, args...)...); code != 2 {
				t.Errorf("export %v: exit %d, want 2", args, code)
			}
		}
		if code, _, errOut := runCLI(t, "", "import", "--db", path); code != 1 || !strings.Contains(errOut, "empty database") {
			t.Errorf("import into a non-empty database: exit %d %s", code, errOut)
		}
		if code, _, errOut := runCLI(t, "not json\n", "import", "--db", filepath.Join(t.TempDir(), "x.db")); code != 1 || !strings.Contains(errOut, "line 1") {
			t.Errorf("import of garbage: exit %d %s", code, errOut)
		}
	})
}

func TestSeedFillsAVerifiableDatabase(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		db := filepath.Join(t.TempDir(), "seeded.db")
		code, out, errOut := runCLI(t, "", "seed", "--db", db, "--tickets", "2500", "--refund-every", "5", "--batch", "300", "--workers", "3")
		if code != 0 || !strings.Contains(out, "seeded 2500 tickets (3000 events)") {
			t.Fatalf("seed exit %d: %s%s", code, out, errOut)
		}
		code, out, _ = runCLI(t, "", "verify", "--db", db, "--json")
		var rep projections.AuditReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Tickets != 2500 || rep.Events != 3000 {
			t.Fatalf("verify of a seeded database: exit %d %+v", code, rep)
		}
		if code, _, _ := runCLI(t, "", "seed", "--db", db, "--batch", "0"); code != 2 {
			t.Fatalf("seed --batch 0: exit %d, want 2", code)
		}

		// The seeded table is caught up, so the service starts ready: its relay
		// does not republish the 3000 events to a projector that has them.
		cfg := e.Config(t)
		cfg.DB, cfg.ReadyMaxLag = db, 1000
		svc := servicetest.Start(t, cfg)
		if relayed, err := svc.Store().Checkpoint(context.Background(), service.EmbeddedRelayCheckpoint); err != nil || relayed != 3000 {
			t.Fatalf("relay checkpoint after start = %d, %v; want 3000", relayed, err)
		}
		if r := servicetest.NewClient(t, svc).Do("GET", "/readyz", nil); r.Status != http.StatusOK {
			t.Fatalf("GET /readyz after start on a seeded database = %d %s", r.Status, r.Body)
		}
	})
}

// TestCSVExportNeutralisesFormulas stores texts that spreadsheets would run
// as formulas (OWASP CSV injection) in every kind of text column: the CSV
// export prefixes each with ', a text that merely holds such a character
// elsewhere and the numbers stay as they are, and JSON Lines is unchanged.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		cfg := e.Config(t)
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		texts := map[string]string{
			"theater_name": `=HYPERLINK("http://evil.example","click")`, "user_id": "+1+2", "movie_title": "-2+3",
			"memo": "@SUM(A1:A9)", "reason": "\tcmd|' /C calc'!A0", "idempotency_key": "=1+1",
		}
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "theater_name", texts["theater_name"], "user_id", texts["user_id"],
			"movie_title", texts["movie_title"], "memo", texts["memo"], "quantity", 1), "Idempotency-Key", texts["idempotency_key"])
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids, "reason": texts["reason"]})
		c.IssueOK(servicetest.With(servicetest.SeedIssue, "theater_name", "CGV a=b", "memo", "\rVIP", "quantity", 1))
		if err := svc.Shutdown(); err != nil {
			t.Fatal(err)
		}

		code, out, _ := runCLI(t, "", "export", "--db", cfg.DB, "--format", "csv")
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || code != 0 || len(rows) != 4 {
			t.Fatalf("csv export: exit %d, %v\n%s", code, err, out)
		}
		cells := func(row int) map[string]string {
			m := map[string]string{}
			for i, col := range rows[0] {
				m[col] = rows[row][i]
			}
			return m
		}
		issued, refunded, safe := cells(1), cells(2), cells(3)
		for col, text := range texts {
			row := issued
			if col == "reason" {
				row = refunded
			}
			if row[col] != "'"+text {
				t.Errorf("column %s holds %q, want %q", col, row[col], "'"+text)
			}
		}
		if safe["theater_name"] != "CGV a=b" || safe["memo"] != "'\rVIP" || safe["price_krw"] != "15000" || safe["position"] != "3" {
			t.Errorf("third row: theater_name %q, memo %q, price_krw %q, position %q", safe["theater_name"], safe["memo"], safe["price_krw"], safe["position"])
		}

		code, out, _ = runCLI(t, "", "export", "--db", cfg.DB)
		var first struct {
			Data     map[string]any
			Metadata map[string]any
		}
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil || code != 0 {
			t.Fatalf("jsonl export: exit %d, %v\n%s", code, err, out)
		}
		if first.Data["theater_name"] != texts["theater_name"] || first.Data["memo"] != texts["memo"] || first.Metadata["idempotency_key"] != texts["idempotency_key"] {
			t.Errorf("jsonl export changed the texts: %+v", first)
		}
	})
}

// Seed and import build every read model from the log they write, so verify
// right after either compares every read table up to the log's head; a log
// whose read tables were never built (appended to by the store alone) is
// said to be so instead of "compared up to position 0".
func TestVerifyRightAfterSeedOrImportComparesEveryReadTable(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "app.db")
	if code, _, errOut := runCLI(t, "", "seed", "--db", db, "--tickets", "20"); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "", "verify", "--db", db)
	if code != 0 || strings.Contains(out, "not built yet") || strings.Contains(out, "compared up to position 0\n") ||
		!strings.Contains(out, "tickets:   20 in the read table, compared up to position") || !strings.Contains(out, "sales:     compared up to position") || !strings.Contains(out, "read tables match the log") {
		t.Errorf("verify right after seed: exit %d, stdout:\n%s%s", code, out, errOut)
	}
	code, exported, errOut := runCLI(t, "", "export", "--db", db)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	copyDB := filepath.Join(t.TempDir(), "copy.db")
	if code, _, errOut := runCLI(t, exported, "import", "--db", copyDB); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "", "verify", "--db", copyDB); code != 0 || strings.Contains(out, "not built yet") || strings.Contains(out, "compared up to position 0\n") || !strings.Contains(out, "sales:     compared up to position") {
		t.Errorf("verify right after import: exit %d, stdout:\n%s%s", code, out, errOut)
	}

	bare := filepath.Join(t.TempDir(), "bare.db")
	store, err := sqlite.Open(bare, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), storetest.IssueRequest(storetest.NewStream(), storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	store.Close()
	code, out, errOut = runCLI(t, "", "verify", "--db", bare)
	if code != 0 || !strings.Contains(out, "not built yet (serve or replay builds") || strings.Contains(out, "compared up to position 0") ||
		!strings.Contains(out, "OK: the hash chain holds, positions are gap-free and versions are 1..n; read tables not built yet were not compared") {
		t.Errorf("verify of a log without read tables: exit %d, stdout:\n%s%s", code, out, errOut)
	}
}
