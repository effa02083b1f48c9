package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

// dirState maps the name of every file in dir to the SHA-256 of its bytes,
// and of every folder to "folder".
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			state[e.Name()] = "folder"
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		state[e.Name()] = hex.EncodeToString(sum[:])
	}
	return state
}

// assertUnchanged fails unless dir holds exactly the files of before, byte for byte.
func assertUnchanged(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	if after := dirState(t, dir); !maps.Equal(before, after) {
		t.Errorf("%s changed the folder:\nbefore %v\nafter  %v", what, before, after)
	}
}

// assertOneLine fails unless stderr is exactly one line naming path.
func assertOneLine(t *testing.T, what, stderr, path string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, path) {
		t.Errorf("%s: stderr is not one line naming %s:\n%s", what, path, stderr)
	}
}

// writeForeignDatabase writes another application's SQLite database at
// path, in rollback-journal mode.
func writeForeignDatabase(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('kim')`); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
		t.Fatalf("foreign database journal mode = %q, %v; want delete", mode, err)
	}
}

func writeBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashedDatabase returns the files of a ticketd database as a crash leaves
// them, by suffix: the database with its -wal and -shm, events in the -wal.
func crashedDatabase(t *testing.T) map[string][]byte {
	t.Helper()
	cfg := servicetest.Config(t.TempDir())
	svc := servicetest.Start(t, cfg)
	servicetest.NewClient(t, svc).IssueOK(servicetest.SeedIssue)
	files := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(cfg.DB + suffix)
		if err != nil {
			t.Fatal(err)
		}
		files[suffix] = b
	}
	return files
}

// TestVerifyAndExportChangeNoByteAndCreateNothing runs the read-only tools
// on files that are not ticketd databases and on ones that are, stopped or
// crashed, and checks with a SHA-256 of every file in the folder, before and
// after, that they wrote nothing: no new database, no -wal, -shm, -journal or
// .lock file, no switch to WAL, no byte of a crash's -shm. On a file that is
// not a ticketd database they exit 1 with one line.
func TestVerifyAndExportChangeNoByteAndCreateNothing(t *testing.T) {
	t.Parallel()
	ticketd, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	stored, err := os.ReadFile(ticketd)
	if err != nil {
		t.Fatal(err)
	}
	crashed := crashedDatabase(t)
	inputs := []struct {
		name  string
		write func(t *testing.T, path string)
		valid bool
	}{
		{"zero-byte file", func(t *testing.T, path string) { writeBytes(t, path, nil) }, false},
		{"random bytes", func(t *testing.T, path string) { writeBytes(t, path, []byte(rand.Text()+rand.Text())) }, false},
		{"foreign rollback-journal database", writeForeignDatabase, false},
		{"ticketd database", func(t *testing.T, path string) { writeBytes(t, path, stored) }, true},
		{"crashed ticketd database", func(t *testing.T, path string) {
			for suffix, b := range crashed {
				writeBytes(t, path+suffix, b)
			}
		}, true},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "app.db")
			in.write(t, path)
			before := dirState(t, dir)
			for _, args := range [][]string{{"verify"}, {"verify", "--json"}, {"export"}, {"export", "--format", "csv"}} {
				what := strings.Join(args, " ")
				code, _, stderr := runCLI(t, "", append(args, "--db", path)...)
				switch {
				case in.valid && code != 0:
					t.Errorf("%s on a ticketd database: exit %d\n%s", what, code, stderr)
				case !in.valid && code != 1:
					t.Errorf("%s: exit %d, want 1\n%s", what, code, stderr)
				case !in.valid:
					assertOneLine(t, what, stderr, path)
				}
				assertUnchanged(t, what, dir, before)
			}
		})
	}
}

// runWithin runs ticketd with args like runCLI, but stops it after timeout,
// so that a serve that wrongly starts cannot hang the test.
func runWithin(t *testing.T, timeout time.Duration, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stderr.String()
}

// TestServeReplayAndImportRefuseAnotherApplicationsDatabase points the
// commands that write at a SQLite database with tables but none of
// ticketd's: each exits 1 with one line and leaves the folder as it was.
func TestServeReplayAndImportRefuseAnotherApplicationsDatabase(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--log-level", "error"}, {"replay"}, {"import"}} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "app.db")
			writeForeignDatabase(t, path)
			before := dirState(t, dir)
			code, stderr := runWithin(t, 20*time.Second, "", append(args, "--db", path)...)
			if code != 1 || !strings.Contains(stderr, "another application") {
				t.Errorf("%s on a foreign database: exit %d, want 1 refusing it\n%s", args[0], code, stderr)
			}
			assertOneLine(t, args[0], stderr, path)
			assertUnchanged(t, args[0], dir, before)
		})
	}
}

// TestReplayAndImportInventNoFiles checks that replay refuses a path that
// does not exist, that import creates a database only in a folder that
// exists, and that a failed command (serve whose address is taken too)
// leaves neither a database nor a .lock file behind.
func TestReplayAndImportInventNoFiles(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	src, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	code, export, stderr := runCLI(t, "", "export", "--db", src)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	dir := t.TempDir()
	// named is the path stderr names: the database, unless the input failed.
	failures := []struct {
		name, stdin, path, named string
		args                     []string
	}{
		{"replay of a missing path", "", filepath.Join(dir, "missing.db"), "missing.db", []string{"replay"}},
		{"import into a missing folder", export, filepath.Join(dir, "no-such-folder", "app.db"), "no-such-folder", []string{"import"}},
		{"import of a bad line into a new file", "not an event\n", filepath.Join(dir, "new.db"), "line 1", []string{"import"}},
		{"import of a broken chain into a new file", strings.Replace(export, `"position":2`, `"position":3`, 1), filepath.Join(dir, "new.db"), "position 3", []string{"import"}},
	}
	for _, f := range failures {
		code, _, stderr := runCLI(t, f.stdin, append(f.args, "--db", f.path)...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", f.name, code, stderr)
		}
		assertOneLine(t, f.name, stderr, f.named)
		assertUnchanged(t, f.name, dir, map[string]string{})
	}
	code, stderr = runWithin(t, 20*time.Second, "", "serve", "--addr", taken.Addr().String(), "--db", filepath.Join(dir, "new.db"))
	if code != 1 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("serve on a taken address: exit %d, want 1\n%s", code, stderr)
	}
	assertUnchanged(t, "serve on a taken address", dir, map[string]string{})

	path := filepath.Join(dir, "new.db")
	if code, _, stderr := runCLI(t, export, "import", "--db", path); code != 0 {
		t.Fatalf("import into a new file in an existing folder: exit %d\n%s", code, stderr)
	}
	if code, out, _ := runCLI(t, "", "verify", "--db", path); code != 0 {
		t.Fatalf("verify of the imported database: exit %d\n%s", code, out)
	}
}

// TestNullHashesSurviveServeAndReplay sets hash = NULL on an edited event
// of a real database, as a forger who wants the next start to re-chain it
// would, then runs replay and serve on it: verify and GET /audit/verify still
// fail, naming the position.
func TestNullHashesSurviveServeAndReplay(t *testing.T) {
	t.Parallel()
	path, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	servicetest.Tamper(t, path, `UPDATE events SET data = replace(data, '15000', '1'), hash = NULL WHERE position = 5`)
	if code, _, stderr := runCLI(t, "", "replay", "--db", path); code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, stderr)
	}
	cfg := servicetest.Config(t.TempDir())
	cfg.DB = path
	svc := servicetest.Start(t, cfg)
	rep := servicetest.NewClient(t, svc).Do("GET", "/audit/verify", nil).JSON(t)
	if rep["ok"] != false || !strings.Contains(fmt.Sprint(rep["first_break"]), eventstore.ProblemMalformedHash) ||
		!strings.Contains(fmt.Sprint(rep["first_break"]), "position:5") {
		t.Errorf("GET /audit/verify after serve = %v, want a malformed_hash break at position 5", rep)
	}
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "", "verify", "--db", path, "--json")
	var audit projections.AuditReport
	if err := json.Unmarshal([]byte(out), &audit); err != nil || code != 1 {
		t.Fatalf("verify after replay and serve: exit %d, %v\n%s", code, err, out)
	}
	if fb := audit.FirstBreak; fb == nil || fb.Position != 5 || fb.Kind != eventstore.ProblemMalformedHash {
		t.Fatalf("first break = %+v, want malformed_hash at position 5", fb)
	}
}

// writePreChainDatabase turns a real stopped database into one as ticketd
// wrote it before the hash chain: no hash columns, no schema versions.
func writePreChainDatabase(t *testing.T) string {
	t.Helper()
	path, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	servicetest.Tamper(t, path, `ALTER TABLE events DROP COLUMN hash; ALTER TABLE events DROP COLUMN prev_hash; DROP TABLE IF EXISTS schema_migrations`)
	return path
}

// serveUntilReady runs `ticketd serve` in process with args on a free
// address, waits until it answers, stops it as SIGTERM would, and returns
// its stderr.
func serveUntilReady(t *testing.T, args ...string) string {
	t.Helper()
	addr := servicetest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	exited := make(chan int)
	go func() {
		exited <- run(ctx, append([]string{"serve", "--addr", addr}, args...), strings.NewReader(""), io.Discard, &stderr)
	}()
	waitReady(t, "http://"+addr)
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("serve exit %d\n%s", code, stderr.String())
	}
	return stderr.String()
}

// TestStoreLogsFollowLogFormatAndLevel migrates a pre-chain database, which
// the store logs, under --log-format json: every line on stderr is a JSON
// object, the store's among them; under --log-level warn the store's INFO
// line is not written at all.
func TestStoreLogsFollowLogFormatAndLevel(t *testing.T) {
	t.Parallel()
	logs := serveUntilReady(t, "--db", writePreChainDatabase(t), "--log-format", "json")
	migrated := false
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
		migrated = migrated || entry["msg"] == "schema migration applied"
	}
	if !migrated {
		t.Errorf("the store's migration line is not among the JSON logs:\n%s", logs)
	}
	if code, stderr := runWithin(t, time.Minute, "", "replay", "--db", writePreChainDatabase(t), "--log-level", "warn"); code != 0 || strings.Contains(stderr, "migration") {
		t.Errorf("replay --log-level warn: exit %d, stderr:\n%s", code, stderr)
	}
}

// unprivilegedBinary copies the ticketd binary where user 65534 can run it
// and returns it with an empty folder that user owns, for its database.
// It skips t unless the tests run as root with setpriv.
func unprivilegedBinary(t *testing.T) (bin, data string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs the service as user 65534 through setpriv, which needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skipf("needs setpriv: %v", err)
	}
	built, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's folders are private to root; the user needs its own.
	base, err := os.MkdirTemp("", "ticketd-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	bin, data = filepath.Join(base, "ticketd"), filepath.Join(base, "data")
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	writeBytes(t, bin, b)
	for _, err := range []error{os.Chmod(base, 0o755), os.Chmod(bin, 0o755), os.Mkdir(data, 0o755), os.Chown(data, 65534, 65534)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return bin, data
}

// serveAsNobody starts `bin serve` with args as user 65534 on a free
// address, waits until it answers, and returns its base URL, its stderr
// and a stop that ends it as SIGTERM does and returns its exit error.
func serveAsNobody(t *testing.T, bin string, args ...string) (base string, logs *servicetest.SyncBuffer, stop func() error) {
	t.Helper()
	addr := servicetest.FreeAddr(t)
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin, "serve", "--addr", addr, "--log-format", "json"}, args...)...)
	logs = &servicetest.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for base = "http://" + addr; ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("serve as user 65534 exited (%v) before it answered:\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve as user 65534 does not answer within 30s:\n%s", logs.String())
		}
	}
	return base, logs, func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		return <-exited
	}
}

// TestUnprivilegedServiceOnAReadOnlyDatabaseHealsAfterChmod starts a real
// ticketd binary as an unprivileged user on its own database made read-only
// with chmod 444: it answers commands 503, and takes them again once the
// operator runs chmod 644; stopped while the file is read-only, it must start
// after chmod 644 and take commands, so no -wal or -shm file it left is
// read-only.
func TestUnprivilegedServiceOnAReadOnlyDatabaseHealsAfterChmod(t *testing.T) {
	bin, data := unprivilegedBinary(t)
	t.Parallel()
	db := filepath.Join(data, "app.db")
	issue := func(base string) int {
		resp, err := http.Post(base+"/tickets/issue", "application/json",
			strings.NewReader(`{"theater_name":"CGV 강남","user_id":"u","movie_title":"m","price_krw":15000}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// issueAsNobody starts the service as user 65534, checks that an issue
	// gets want, runs then (when set) on its base URL, and stops it.
	issueAsNobody := func(want int, then func(base string)) {
		t.Helper()
		base, logs, stop := serveAsNobody(t, bin, "--db", db)
		got := issue(base)
		if got == want && then != nil {
			then(base)
		}
		if err := stop(); err != nil || got != want {
			t.Fatalf("issue as user 65534 = %d, want %d; exit %v\n%s", got, want, err, logs.String())
		}
	}
	chmod := func(mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(db, mode); err != nil {
			t.Fatal(err)
		}
	}
	healsRunning := func(base string) {
		chmod(0o644)
		for deadline := time.Now().Add(15 * time.Second); issue(base) != http.StatusCreated; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("the running service still refuses commands 15 s after chmod 644")
				return
			}
		}
	}
	issueAsNobody(http.StatusCreated, nil)
	chmod(0o444)
	issueAsNobody(http.StatusServiceUnavailable, healsRunning)
	chmod(0o444)
	issueAsNobody(http.StatusServiceUnavailable, nil)
	for _, suffix := range []string{"-wal", "-shm"} {
		if info, err := os.Stat(db + suffix); err == nil && info.Mode().Perm()&0o200 == 0 {
			t.Errorf("the service left %s%s with mode %v, not writable by its owner", db, suffix, info.Mode().Perm())
		}
	}
	chmod(0o644)
	issueAsNobody(http.StatusCreated, nil)
	if code, out, _ := runCLI(t, "", "verify", "--db", db); code != 0 {
		t.Fatalf("verify after the read-only spell: exit %d\n%s", code, out)
	}
}

// TestUnprivilegedReadOnlyStartWithProjectionsBehindTheLogHeals starts a
// real ticketd binary as an unprivileged user on a database made read-only
// with chmod 444 whose projections are behind the log: the tickets table
// misses the last 200 events (appended after it was built, as a crash
// before the projector ran leaves them) and the sales tables were never
// built (seed builds none). It must start: reads answer from what the
// tables hold, a Ticketd-Min-Position beyond that and commands get 503 with
// Retry-After, /readyz names the cause. After chmod 644 the running service
// catches both projections up and takes commands, and the database
// verifies.
func TestUnprivilegedReadOnlyStartWithProjectionsBehindTheLogHeals(t *testing.T) {
	bin, data := unprivilegedBinary(t)
	t.Parallel()
	db := filepath.Join(data, "app.db")
	if code, out, errOut := runCLI(t, "", "seed", "--db", db, "--tickets", "300", "--refund-every", "10", "--workers", "2"); code != 0 {
		t.Fatalf("seed: exit %d\n%s%s", code, out, errOut)
	}
	seedLog(t, db, 200)
	const projected, head = 330, 530 // 300 issues and 30 refunds, then 200 issues
	files, err := filepath.Glob(db + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}

	base, logs, stop := serveAsNobody(t, bin, "--db", db, "--consistency-timeout", "500ms", "--ready-max-lag", "100", "--min-free-bytes", "0")
	c := servicetest.NewClientAt(t, base)
	if r := c.Do("GET", "/tickets?limit=1", nil, servicetest.HeaderMinPosition, fmt.Sprint(projected)); r.Status != http.StatusOK || r.JSON(t)["total"] != float64(300) {
		t.Fatalf("GET /tickets from what the table holds: %d %s", r.Status, r.Body)
	}
	servicetest.SalesOf(t, c, "by=theater")
	for _, req := range []struct{ method, path string }{{"GET", "/tickets?limit=1"}, {"GET", "/stats/sales"}, {"POST", "/tickets/issue"}} {
		var body any
		if req.method == "POST" {
			body = servicetest.SeedIssue
		}
		if r := c.Do(req.method, req.path, body, servicetest.HeaderMinPosition, fmt.Sprint(head)); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s on a read-only database with its projections behind: %d, Retry-After %q: %s", req.method, req.path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	r := c.Do("GET", "/readyz", nil)
	var ready struct {
		Checks map[string]struct{ Status, Detail string }
	}
	json.Unmarshal(r.Body, &ready)
	if database, tickets := ready.Checks["database"], ready.Checks["projection:tickets"]; r.Status != http.StatusServiceUnavailable ||
		database.Status != "failing" || !strings.Contains(database.Detail, "read-only") ||
		tickets.Status != "failing" || !strings.Contains(tickets.Detail, "200 events behind") || !strings.Contains(tickets.Detail, "once the database takes writes") {
		t.Errorf("/readyz does not name the cause: %d %s", r.Status, r.Body)
	}

	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	var issued servicetest.Response
	servicetest.WaitWithin(t, 30*time.Second, "the service takes commands after chmod 644", func() bool {
		issued = c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1))
		return issued.Status == http.StatusCreated
	})
	// The projections catch up 200 and 530 events meanwhile: on a loaded
	// machine that may take longer than the 500ms a read waits.
	pos := issued.Header.Get(servicetest.HeaderPosition)
	servicetest.WaitWithin(t, 30*time.Second, "the tickets projection reaches the issue", func() bool {
		return c.Do("GET", "/tickets?limit=1", nil, servicetest.HeaderMinPosition, pos).Status == http.StatusOK
	})
	servicetest.WaitWithin(t, 30*time.Second, "the sales projection reaches the issue", func() bool {
		return c.Do("GET", "/stats/sales", nil, servicetest.HeaderMinPosition, pos).Status == http.StatusOK
	})
	if r := c.Do("GET", "/tickets?limit=1", nil); r.JSON(t)["total"] != float64(501) {
		t.Errorf("GET /tickets after healing: %d %s", r.Status, r.Body)
	}
	rows, _ := servicetest.SalesOf(t, c, "by=theater")
	var sold int64
	for _, row := range rows {
		sold += row[0]
	}
	if sold != 501 {
		t.Errorf("sales after healing: %v, want 501 tickets issued in all", rows)
	}
	servicetest.WaitWithin(t, 30*time.Second, "/readyz answers ready", func() bool { return c.Do("GET", "/readyz", nil).Status == http.StatusOK })
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs.String())
	}
	if code, out, _ := runCLI(t, "", "verify", "--db", db); code != 0 {
		t.Fatalf("verify after healing: exit %d\n%s", code, out)
	}
}
