package postgres_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// serverURL returns the test server's URL, skipping the test without one.
func serverURL(tb testing.TB) string { return pgtest.ServerURL(tb) }

// admin runs sql on the test server's own database.
func admin(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	pgtest.Exec(tb, serverURL(tb), sql, args...)
}

// connect opens a connection of the test's own to db.
func connect(tb testing.TB, db string) *pgx.Conn { return pgtest.Connect(tb, db) }

// execOn runs sql on the database db names, on a connection of its own.
func execOn(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	pgtest.Exec(tb, db, sql, args...)
}

// column returns the one column of query's rows on db, in order.
func column[T any](tb testing.TB, db, query string, args ...any) []T {
	tb.Helper()
	ctx := context.Background()
	conn := connect(tb, db)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		tb.Fatal(err)
	}
	return vs
}

// freshDatabase creates a database of its own for tb, dropped at the end.
func freshDatabase(tb testing.TB) string { return pgtest.FreshDatabase(tb) }

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

func issueReq(streams ...string) eventstore.AppendRequest {
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "req-1", CorrelationID: "corr-1"}}
	for _, id := range streams {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{storetest.SampleEvent(15000)}})
	}
	return req
}
