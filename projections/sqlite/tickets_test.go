package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	esqlite "github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/projectiontest"
	"github.com/ticketd/ticketd/projections/sqlite"
)

// mustOpen opens a store on a new file and the read models' storage in it.
func mustOpen(tb testing.TB) (*esqlite.Store, projections.Storage) {
	tb.Helper()
	s, err := esqlite.Open(filepath.Join(tb.TempDir(), "app.db"), esqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, sqlite.Storage(s)
}

// TestProjectorContract runs the projector suite on SQLite.
func TestProjectorContract(t *testing.T) {
	t.Parallel()
	projectiontest.Run(t, func(tb testing.TB) (eventstore.Store, projections.Storage) { return mustOpen(tb) })
}
