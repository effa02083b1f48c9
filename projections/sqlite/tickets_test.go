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

// mustOpen opens a store on a new file and creates its tickets table.
func mustOpen(tb testing.TB) (*esqlite.Store, *sqlite.TicketTable) {
	tb.Helper()
	s, err := esqlite.Open(filepath.Join(tb.TempDir(), "app.db"), esqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	table, err := sqlite.CreateTickets(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return s, table
}

// TestTicketTableContract runs the projector suite on the SQLite table.
func TestTicketTableContract(t *testing.T) {
	t.Parallel()
	projectiontest.Run(t, func(tb testing.TB) (eventstore.Store, projections.TicketTable) { return mustOpen(tb) })
}
