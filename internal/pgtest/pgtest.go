// Package pgtest gives tests a PostgreSQL database of their own on the
// server TICKETD_TEST_POSTGRES_URL names, and skips them without one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URLVar names the server the tests create their databases on.
const URLVar = "TICKETD_TEST_POSTGRES_URL"

// ServerURL returns the test server's URL, skipping tb without one.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(URLVar)
	if u == "" {
		tb.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres): PostgreSQL tests skipped", URLVar)
	}
	return u
}

// Connect opens a connection of the test's own to db.
func Connect(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

// Exec runs sql on the database db names, on a connection of its own.
func Exec(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// FreshDatabase creates a database of its own for tb, dropped at the end
// with every connection left on it, and returns its URL.
func FreshDatabase(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	var b [6]byte
	rand.Read(b[:])
	name := "ticketd_test_" + hex.EncodeToString(b[:])
	Exec(tb, base, `CREATE DATABASE `+name)
	tb.Cleanup(func() { Exec(tb, base, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Name returns the name of the database the URL db names.
func Name(tb testing.TB, db string) string {
	tb.Helper()
	u, err := url.Parse(db)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Terminate ends every connection to db's database but the caller's, as an
// administrator or a server restart does (SQLSTATE 57P01).
func Terminate(tb testing.TB, db string) {
	tb.Helper()
	Exec(tb, ServerURL(tb), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, Name(tb, db))
}

// TerminateLeader ends the backend that holds the projector leadership
// lock of schema in db's database (the session advisory lock
// postgres.LeaderLock takes: key ticketd_lock_key('leader', schema)), as a
// network partition of the leader would, and returns how many it ended: 0
// when no instance leads.
func TerminateLeader(tb testing.TB, db, schema string) int {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, db)
	defer conn.Close(ctx)
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(l.pid)) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended('ticketd leader ' || $1::text, 0)`, schema).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
