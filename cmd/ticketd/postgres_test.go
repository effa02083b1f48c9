package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// withPassword returns the URL db with the password pw in its user part.
func withPassword(t *testing.T, db, pw string) string {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

func TestServeNeverShowsThePostgresPasswordInLogsOrErrors(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-pw"
	cfg := servicetest.Config(t.TempDir())
	cfg.DB = withPassword(t, pgtest.FreshDatabase(t), pw) // the test server trusts, so any password connects
	var logs servicetest.SyncBuffer
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "ticketd serving") || !strings.Contains(out, "db=postgres://postgres:xxxxx@") || strings.Contains(out, pw) {
		t.Errorf("logs show the password or no redacted db:\n%s", out)
	}

	missing, err := url.Parse(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	missing.Path = "/ticketd_no_such_database"
	code, _, stderr := runCLI(t, "", "serve", "--addr", "127.0.0.1:0", "--db", missing.String(), "--log-level", "error")
	if code != 1 || strings.Contains(stderr, pw) || !strings.Contains(stderr, "postgres:xxxxx@") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("serve on a missing database: exit %d, stderr %q; want 1 and one line with the password redacted", code, stderr)
	}
}

func TestSecondServeOnAHeldPostgresDatabaseExitsNamingTheHolder(t *testing.T) {
	bin := parallelBinaryTest(t)
	cfg := servicetest.Postgres.Config(t)
	servicetest.Start(t, cfg)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", cfg.DB, "--log-level", "error")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second serve: %v, stdout %q; want exit 1", err, out)
	}
	stderr := string(exit.Stderr)
	holder := fmt.Sprintf("ticketd pid %d on ", os.Getpid())
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "held by") || !strings.Contains(stderr, holder) {
		t.Errorf("second serve stderr = %q; want one line naming the holder %q", stderr, holder)
	}
}

func TestPGSchemaHoldsTheTablesOfItsOwnInstance(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Postgres.Config(t)
	cfg.PGSchema = "tenant_a"
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	c.IssueOK(servicetest.SeedIssue)
	ctx := context.Background()
	conn := pgtest.Connect(t, cfg.DB)
	defer conn.Close(ctx)
	var inSchema, inPublic int
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenant_a.events) + (SELECT count(*) FROM tenant_a.tickets),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&inSchema, &inPublic)
	if err != nil || inSchema < 2 || inPublic != 0 {
		t.Fatalf("rows in tenant_a = %d, tables in public = %d, %v; want the events and tickets in tenant_a only", inSchema, inPublic, err)
	}
	if code, out, errOut := runCLI(t, "", "verify", "--db", cfg.DB, "--pg-schema", "tenant_a"); code != 0 {
		t.Fatalf("verify --pg-schema tenant_a: exit %d\n%s%s", code, out, errOut)
	}
}

func TestInvalidPGSchemaExits2NamingTheFlag(t *testing.T) { // not parallel: sets the environment
	for _, args := range [][]string{{"serve", "--pg-schema", "1bad"}, {"verify", "--pg-schema", "bad-name"}, {"export", "--pg-schema", ""}} {
		code, _, stderr := runCLI(t, "", args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--pg-schema") {
			t.Errorf("ticketd %q: exit %d, stderr %q; want 2 and one line naming --pg-schema", args, code, stderr)
		}
	}
	t.Setenv("TICKETD_PG_SCHEMA", "no spaces")
	if code, _, stderr := runCLI(t, "", "verify"); code != 2 || !strings.Contains(stderr, "TICKETD_PG_SCHEMA") {
		t.Errorf("TICKETD_PG_SCHEMA invalid: exit %d, stderr %q; want 2 naming the variable", code, stderr)
	}
}

// TestExportFromSQLiteImportsIntoPostgresAndBackWithIdenticalHashes is the
// migration path between the engines.
func TestExportFromSQLiteImportsIntoPostgresAndBackWithIdenticalHashes(t *testing.T) {
	t.Parallel()
	file, _ := servicetest.BuildStoppedDatabase(t, servicetest.SQLite)
	fromSQLite := exportOK(t, file)
	pg := servicetest.Postgres.Database(t, "")
	importOK(t, pg, fromSQLite)
	if fromPostgres := exportOK(t, pg); fromPostgres != fromSQLite {
		t.Fatalf("export of the PostgreSQL copy differs from the SQLite export:\n%s\n---\n%s", fromPostgres, fromSQLite)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	importOK(t, back, exportOK(t, pg))
	if again := exportOK(t, back); again != fromSQLite {
		t.Fatalf("export after the round trip differs:\n%s\n---\n%s", again, fromSQLite)
	}
	for _, db := range []string{pg, back} {
		if code, out, errOut := runCLI(t, "", "verify", "--db", db); code != 0 {
			t.Fatalf("verify %s: exit %d\n%s%s", db, code, out, errOut)
		}
	}
}

func exportOK(t *testing.T, db string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "", "export", "--db", db)
	if code != 0 || strings.Count(out, "\n") < 14 {
		t.Fatalf("export %s: exit %d\n%s%s", db, code, out, errOut)
	}
	return out
}

func importOK(t *testing.T, db, jsonl string) {
	t.Helper()
	if code, out, errOut := runCLI(t, jsonl, "import", "--db", db); code != 0 {
		t.Fatalf("import %s: exit %d\n%s%s", db, code, out, errOut)
	}
}

// TestVerifyAndExportChangeNothingOnPostgres runs both on a database that
// holds no ticketd log: they refuse it and leave it without a table.
func TestVerifyAndExportChangeNothingOnPostgres(t *testing.T) {
	t.Parallel()
	db := servicetest.Postgres.Database(t, "")
	for _, tool := range []string{"verify", "export"} {
		if code, _, stderr := runCLI(t, "", tool, "--db", db); code != 1 || !strings.Contains(stderr, "no ticketd event log") {
			t.Errorf("%s on an empty database: exit %d, stderr %q; want 1 saying there is no log", tool, code, stderr)
		}
	}
	ctx := context.Background()
	conn := pgtest.Connect(t, db)
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tables after verify and export = %d, %v; want none", tables, err)
	}
}

func TestSeedAndReplayWorkOnPostgres(t *testing.T) {
	t.Parallel()
	db := servicetest.Postgres.Database(t, "")
	if code, _, stderr := runCLI(t, "", "replay", "--db", db); code != 1 || !strings.Contains(stderr, "no ticketd event log") {
		t.Fatalf("replay on a database without a log: exit %d, stderr %q; want 1 saying there is no log", code, stderr)
	}
	if code, out, errOut := runCLI(t, "", "seed", "--db", db, "--tickets", "60", "--batch", "7", "--refund-every", "4"); code != 0 || !strings.Contains(out, "seeded 60 tickets (75 events)") {
		t.Fatalf("seed: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "", "replay", "--db", db); code != 0 || !strings.Contains(out, "replayed 75 events") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "", "verify", "--db", db); code != 0 || !strings.Contains(out, "events:    75 checked") {
		t.Fatalf("verify after seed and replay: exit %d\n%s%s", code, out, errOut)
	}
}

func TestBenchRunsOnPostgresAndDropsItsDatabases(t *testing.T) {
	bin := parallelBinaryTest(t)
	server := pgtest.ServerURL(t)
	cmd := exec.Command(bin, "bench", "--db", server, "--clients", "2", "--duration", "200ms", "--seed-tickets", "30", "--json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench --db %s: %v\n%s", server, err, out)
	}
	if !strings.Contains(string(out), `"GET /tickets/{id}"`) || !strings.Contains(string(out), `"replay_events_per_second"`) ||
		!strings.Contains(string(out), `"append_lock_hold"`) {
		t.Fatalf("bench report lacks the scenarios, the replay rate or the append-lock hold:\n%s", out)
	}
	var rep benchReport
	if err := json.Unmarshal(out, &rep); err != nil || rep.SQLiteIssue == nil || rep.SQLiteIssue.Result.Requests == 0 || rep.SQLiteIssue.Ratio <= 0 {
		t.Fatalf("bench --db %s measured no SQLite issue beside PostgreSQL's (%v):\n%s", server, err, out)
	}
	if pg := rep.Targets[len(rep.Targets)-1]; pg.Met == nil || pg.Measured != rep.SQLiteIssue.Ratio {
		t.Fatalf("PostgreSQL target %+v, want it judged on the PostgreSQL / SQLite ratio %.2f", pg, rep.SQLiteIssue.Ratio)
	}
	ctx := context.Background()
	conn := pgtest.Connect(t, server)
	defer conn.Close(ctx)
	var left int
	prefix := fmt.Sprintf("ticketd_bench_%d_%%", cmd.Process.Pid)
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE $1`, prefix).Scan(&left); err != nil || left != 0 {
		t.Fatalf("databases %s left after bench: %d, %v", prefix, left, err)
	}
}
