package postgres_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// TestStoreContract runs the engine-neutral store suite on PostgreSQL, a
// database of its own per test, with the single-instance lock, read-only
// opens and direct edits of the events table.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	serverURL(t)
	storetest.Run(t, storetest.Factory{
		NewDatabase: freshDatabase,
		Open: func(db string, opts storetest.Options) (eventstore.Store, error) {
			return postgres.Open(context.Background(), db, postgres.Options{Now: opts.Now, OnCommit: opts.OnCommit, Mode: opts.Mode})
		},
	}, storetest.Features{
		ExclusiveWriter: true,
		OpenReadOnly: func(db string) (eventstore.Store, error) {
			return postgres.Open(context.Background(), db, postgres.Options{ReadOnly: true})
		},
		SetColumn: func(tb testing.TB, db string, position int64, column string, value *string) {
			execOn(tb, db, `UPDATE events SET `+column+` = $1 WHERE position = $2`, value, position)
		},
	})
}
