package postgres_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	epostgres "github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/postgres"
	"github.com/ticketd/ticketd/projections/projectiontest"
)

// mustOpen opens a store on a fresh database and the read models' storage
// in it.
func mustOpen(tb testing.TB) (*epostgres.Store, projections.Storage) {
	tb.Helper()
	s, err := epostgres.Open(context.Background(), pgtest.FreshDatabase(tb), epostgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, postgres.Storage(s)
}

// TestProjectorContract runs the projector suite on PostgreSQL, a database
// of its own per test.
func TestProjectorContract(t *testing.T) {
	t.Parallel()
	pgtest.ServerURL(t)
	projectiontest.Run(t, func(tb testing.TB) (eventstore.Store, projections.Storage) { return mustOpen(tb) })
}
