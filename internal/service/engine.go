package service

import (
	"context"
	"log/slog"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
	projsqlite "github.com/ticketd/ticketd/projections/sqlite"
)

// openEngine opens the event store cfg.DB names, traced by cfg.Tracing, and
// creates the read models' tables in it; onCommit observes every group
// commit. SQLite (cfg.DB is a file path) is the only engine so far. When the
// tables fail, the store is returned with the error so that the caller
// abandons it.
func openEngine(ctx context.Context, cfg Config, onCommit func(eventstore.CommitInfo), logger *slog.Logger) (eventstore.Store, projections.Tables, error) {
	store, err := sqlite.Open(cfg.DB, sqlite.Options{OnCommit: onCommit, Logger: logger, TracerProvider: cfg.Tracing.Provider})
	if err != nil {
		return nil, projections.Tables{}, err
	}
	tables, err := projsqlite.CreateTables(ctx, store)
	return store, tables, err
}
