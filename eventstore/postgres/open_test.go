package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://alice:s3cret@db:5432/ticketd":                       "postgres://alice:xxxxx@db:5432/ticketd",
		"postgresql://alice@db/ticketd?password=s3cret&sslmode=require": "postgresql://alice@db/ticketd?password=xxxxx&sslmode=require",
		"postgres://db/ticketd":                                         "postgres://db/ticketd",
		"postgres://alice:s3cret@db:port/%zz":                           "postgres://(unparsable URL)",
	} {
		if got := postgres.Redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsURLTakesOnlyPostgresSchemes(t *testing.T) {
	for db, want := range map[string]bool{
		"postgres://h/db": true, "POSTGRESQL://h/db": true, "data/app.db": false, "mysql://h/db": false, "postgres.db": false,
	} {
		if got := postgres.IsURL(db); got != want {
			t.Errorf("IsURL(%q) = %v", db, got)
		}
	}
}

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	base := serverURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("no_such_user", "s3cret")
	u.Path = "/no_such_database"
	_, err = postgres.Open(context.Background(), u.String(), postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "no_such_user:xxxxx@") {
		t.Fatalf("err = %v, want one naming the redacted URL", err)
	}
	_, err = postgres.Open(context.Background(), "postgres://u:s3cret@h:notaport/db", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("invalid URL: err = %v", err)
	}
}

func TestSecondWriterOnOneDatabaseIsRefusedNamingTheHolder(t *testing.T) {
	t.Parallel()
	_, db := MustOpenStore(t, postgres.Options{})
	_, err := postgres.Open(context.Background(), db, postgres.Options{})
	if !errors.Is(err, eventstore.ErrLocked) || !strings.Contains(err.Error(), "ticketd pid") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second writable open: err = %v, want one line, ErrLocked naming the holder", err)
	}
	t.Log(err)
	shared := mustOpen(t, db, postgres.Options{Shared: true})
	if _, err := shared.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatalf("a shared store beside the holder: %v", err)
	}
	ro := mustOpen(t, db, postgres.Options{ReadOnly: true})
	if _, err := ro.Append(context.Background(), issueReq(storetest.NewStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append on read-only store: %v", err)
	}
	if ro.Head() != 1 {
		t.Fatalf("read-only store's head = %d", ro.Head())
	}
}

func TestClosingTheHolderFreesTheDatabase(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	first, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	mustOpen(t, db, postgres.Options{})
}

// Close must not return before the server has released the single-instance
// lock: a restart right after it must never find its own predecessor holding
// the database.
func TestReopeningRightAfterCloseNeverFindsTheDatabaseLocked(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	for i := range 50 {
		s, err := postgres.Open(context.Background(), db, postgres.Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
}

func TestOpenReadOnlyRefusesADatabaseWithoutAnEventLog(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	if _, err := postgres.Open(context.Background(), db, postgres.Options{ReadOnly: true}); err == nil {
		t.Fatal("opened a database without an event log read-only")
	}
	if tables := tableNames(t, db, "public"); len(tables) != 0 {
		t.Fatalf("a read-only open created %v", tables)
	}
}

// tableNames lists the tables of schema in db.
func tableNames(t *testing.T, db, schema string) []string {
	t.Helper()
	return column[string](t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schema)
}

func TestOpenUsesADatabaseWithOtherTablesAsIs(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	execOn(t, db, `CREATE TABLE films (id int PRIMARY KEY, title text); INSERT INTO films VALUES (1, 'Parasite')`)
	s := mustOpen(t, db, postgres.Options{})
	if _, err := s.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	want := "checkpoints counters events films idempotency_keys leader_lease reservation_claims reservations ticketd_schema_version write_probe"
	if got := strings.Join(tableNames(t, db, "public"), " "); got != want {
		t.Fatalf("tables = %s, want %s", got, want)
	}
	var title string
	ctx := context.Background()
	conn := connect(t, db)
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT title FROM films WHERE id = 1`).Scan(&title); err != nil || title != "Parasite" {
		t.Fatalf("films row = %q, %v", title, err)
	}
}

func TestOpenRefusesAnEventsTableThatIsNotTicketds(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	execOn(t, db, `CREATE TABLE events (id int PRIMARY KEY)`)
	_, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "not ticketd's") {
		t.Fatalf("err = %v, want a refusal naming the foreign events table", err)
	}
	s := mustOpen(t, db, postgres.Options{Schema: "ticketd"})
	if _, err := s.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaOptionKeepsLogsApart(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	a := mustOpen(t, db, postgres.Options{Schema: "tenant a"})
	b := mustOpen(t, db, postgres.Options{Schema: "tenant_b"}) // its own instance lock
	if _, err := a.Append(context.Background(), issueReq(storetest.NewStream(), storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	if len(storetest.ReadAll(t, a)) != 2 || len(storetest.ReadAll(t, b)) != 1 || b.Head() != 1 {
		t.Fatalf("schemas share a log: a has %d, b has %d events", len(storetest.ReadAll(t, a)), len(storetest.ReadAll(t, b)))
	}
	if tables := tableNames(t, db, "public"); len(tables) != 0 {
		t.Fatalf("public got tables %v", tables)
	}
}

func TestMigrationsApplyOnceAndRefuseANewerSchema(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	mustOpen(t, db, postgres.Options{Shared: true}).Close()
	mustOpen(t, db, postgres.Options{Shared: true}).Close()
	ctx := context.Background()
	conn := connect(t, db)
	defer conn.Close(ctx)
	var versions, latest int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*), MAX(version) FROM ticketd_schema_version`).Scan(&versions, &latest); err != nil {
		t.Fatal(err)
	}
	if versions != latest || latest < 1 {
		t.Fatalf("%d versions recorded, latest %d: a migration ran twice or none ran", versions, latest)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO ticketd_schema_version (version, name) VALUES ($1, 'from the future')`, latest+1); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, db, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err = %v, want a refusal of a newer schema", err)
	}
}

// Close is safe to call more than once: a second Close has nothing left to
// release and says nothing.
func TestClosingTwiceReleasesOnceAndWarnsOfNothing(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := mustOpen(t, freshDatabase(t), postgres.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i+1, err)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("closing twice logged a warning:\n%s", logs.String())
	}
}

func TestClusterStoresShareTheInstanceLockButNeverWithASoleHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := freshDatabase(t)
	a := mustOpen(t, db, postgres.Options{Cluster: true})
	b := mustOpen(t, db, postgres.Options{Cluster: true})
	if _, err := postgres.Open(ctx, db, postgres.Options{}); !errors.Is(err, eventstore.ErrLocked) || !strings.Contains(err.Error(), "ticketd pid") {
		t.Fatalf("a sole holder's open beside cluster stores = %v, want ErrLocked naming a holder", err)
	}
	for _, s := range []*postgres.Store{a, b} {
		if _, err := s.Append(ctx, issueReq(storetest.NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	sole := mustOpen(t, db, postgres.Options{}) // the cluster gone, the lock is free at once
	if _, err := postgres.Open(ctx, db, postgres.Options{Cluster: true}); !errors.Is(err, eventstore.ErrLocked) {
		t.Fatalf("a cluster store's open beside a sole holder = %v, want ErrLocked", err)
	}
	if sole.Head() != 2 {
		t.Fatalf("head = %d, want 2", sole.Head())
	}
}
