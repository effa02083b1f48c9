// Package pgtest gives tests a PostgreSQL database of their own on the
// server TICKETD_TEST_POSTGRES_URL names, and skips them without one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore/postgres"
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
	db, err := postgres.CreateDatabase(context.Background(), base, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := postgres.DropDatabase(context.Background(), base, name); err != nil {
			tb.Error(err)
		}
	})
	return db
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

// TerminateLeader ends the backend of the lease connection of the
// projector leader of schema in db's database (holder_pid of the lease row
// postgres.LeaderLease keeps), as a network partition of the leader would,
// and returns how many it ended: 0 when no instance leads.
func TerminateLeader(tb testing.TB, db, schema string) int {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, db)
	defer conn.Close(ctx)
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(holder_pid))
		FROM `+pgx.Identifier{schema, "leader_lease"}.Sanitize()+` WHERE holder_pid <> 0 AND expires_at > clock_timestamp()`).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// FreezingProxy forwards TCP connections to the server of the URL db names
// and returns db's URL through it, and freeze: freeze stops every
// connection open then from carrying bytes, without closing it, as a hung
// network path does (the server still sees the session), while new
// connections work. The proxy ends with tb.
func FreezingProxy(tb testing.TB, db string) (proxied string, freeze func()) {
	tb.Helper()
	u, err := url.Parse(db)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var open []chan struct{}
	target := u.Host
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			tb.Cleanup(func() { client.Close(); upstream.Close() })
			stop := make(chan struct{})
			mu.Lock()
			open = append(open, stop)
			mu.Unlock()
			go pump(upstream, client, stop)
			go pump(client, upstream, stop)
		}
	}()
	u.Host = ln.Addr().String()
	return u.String(), func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range open {
			close(stop)
		}
		open = nil
	}
}

// pump copies from src to dst until stop is closed, then keeps both open
// and carries nothing more.
func pump(dst, src net.Conn, stop <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-stop:
			return
		default:
		}
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}
