package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
)

// urlVar names the server the tests create their databases on.
const urlVar = "TICKETD_TEST_POSTGRES_URL"

// serverURL returns the test server's URL, skipping the test without one.
func serverURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		tb.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres): PostgreSQL store tests skipped", urlVar)
	}
	return u
}

// admin runs sql on the test server's own database.
func admin(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	execOn(tb, serverURL(tb), sql, args...)
}

// connect opens a connection of the test's own to db.
func connect(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

// execOn runs sql on the database db names, on a connection of its own.
func execOn(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn := connect(tb, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// freshDatabase creates a database of its own for tb, dropped at the end
// with every connection left on it, and returns its URL.
func freshDatabase(tb testing.TB) string {
	tb.Helper()
	base := serverURL(tb)
	var b [6]byte
	rand.Read(b[:])
	name := "ticketd_test_" + hex.EncodeToString(b[:])
	admin(tb, `CREATE DATABASE `+name)
	tb.Cleanup(func() {
		admin(tb, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		admin(tb, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustOpenStore opens a store on a fresh database and closes it at the end
// of the test.
func MustOpenStore(tb testing.TB, opts postgres.Options) (*postgres.Store, string) {
	tb.Helper()
	db := freshDatabase(tb)
	return mustOpen(tb, db, opts), db
}

// mustOpen opens a store on db and closes it at the end of the test. Its
// notices go to the test log.
func mustOpen(tb testing.TB, db string, opts postgres.Options) *postgres.Store {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, nil))
	}
	s, err := postgres.Open(context.Background(), db, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// tbWriter writes lines to a test's log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func issued(price int64) domain.TicketIssued {
	return domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목 <&>", PriceKRW: price}
}

func issueReq(streams ...string) eventstore.AppendRequest {
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "req-1", CorrelationID: "corr-1"}}
	for _, id := range streams {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{issued(15000)}})
	}
	return req
}
