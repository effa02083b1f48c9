package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	esqlite "github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/projectiontest"
	"github.com/ticketd/ticketd/projections/sqlite"
)

// mustOpen opens a store on a new file and creates its read models' tables.
func mustOpen(tb testing.TB) (*esqlite.Store, projections.Tables) {
	tb.Helper()
	s, err := esqlite.Open(filepath.Join(tb.TempDir(), "app.db"), esqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	tables, err := sqlite.CreateTables(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return s, tables
}

// TestProjectorContract runs the projector suite on the SQLite tables.
func TestProjectorContract(t *testing.T) {
	t.Parallel()
	projectiontest.Run(t, func(tb testing.TB) (eventstore.Store, projections.Tables) { return mustOpen(tb) })
}
