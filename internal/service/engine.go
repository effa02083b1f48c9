package service

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/metrics"
	"github.com/ticketd/ticketd/projections"
	projpostgres "github.com/ticketd/ticketd/projections/postgres"
	projsqlite "github.com/ticketd/ticketd/projections/sqlite"
)

// DatabaseOptions says how OpenDatabase opens a database. The zero value
// opens it for writing, creating a missing SQLite file with its folder.
type DatabaseOptions struct {
	// Schema is the PostgreSQL schema of ticketd's tables (--pg-schema);
	// "" is public. SQLite ignores it.
	Schema string
	// ReadOnly reads the database as it is: nothing is created or migrated.
	ReadOnly bool
	// Cluster opens a PostgreSQL database for one instance of several
	// (--cluster): the single-instance lock is taken in shared mode, so
	// cluster instances run together but not beside one that holds it
	// alone. SQLite ignores it.
	Cluster bool
	// Mode is what an open does when the database holds no event log (see
	// eventstore.OpenMode); a PostgreSQL database itself must exist.
	Mode eventstore.OpenMode
	// OnCommit observes every group commit.
	OnCommit func(eventstore.CommitInfo)
	// OnAppendLock observes how long each PostgreSQL group commit waited for
	// and then held the global append lock. SQLite ignores it.
	OnAppendLock   func(waited, held time.Duration)
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	// Now is the clock stamped on appended events. Default time.Now.
	Now func() time.Time
}

// IsPostgres reports whether db names a PostgreSQL database (a postgres://
// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(db string) bool { return postgres.IsURL(db) }

// RedactDB returns db as log lines and errors may show it: a PostgreSQL URL
// with its password replaced, a SQLite path as it is.
func RedactDB(db string) string {
	if IsPostgres(db) {
		return postgres.Redact(db)
	}
	return db
}

// OpenDatabase opens the event log db names, a PostgreSQL URL or a SQLite
// file path, and the storage of its read models' tables (which
// projections.Open and projections.Rebuild prepare). Errors never show a
// password of db.
func OpenDatabase(ctx context.Context, db string, opts DatabaseOptions) (eventstore.Store, projections.Storage, error) {
	if IsPostgres(db) {
		return openPostgres(ctx, db, opts)
	}
	store, err := sqlite.Open(db, sqlite.Options{ReadOnly: opts.ReadOnly, Mode: opts.Mode,
		OnCommit: opts.OnCommit, Logger: opts.Logger, TracerProvider: opts.TracerProvider, Now: opts.Now})
	if err != nil {
		return nil, nil, err
	}
	return store, projsqlite.Storage(store), nil
}

func openPostgres(ctx context.Context, db string, opts DatabaseOptions) (eventstore.Store, projections.Storage, error) {
	store, err := postgres.Open(ctx, db, postgres.Options{Schema: opts.Schema, ReadOnly: opts.ReadOnly, Mode: opts.Mode, Cluster: opts.Cluster,
		OnCommit: opts.OnCommit, OnAppendLock: opts.OnAppendLock, Logger: opts.Logger, TracerProvider: opts.TracerProvider, Now: opts.Now})
	if err != nil {
		return nil, nil, err
	}
	return store, projpostgres.Storage(store), nil
}

// openEngine opens the database cfg.DB names for the service, traced by
// cfg.Tracing, its commits and append-lock holds observed by m, and its read
// tables' storage passed through cfg.ReadTables when set.
func openEngine(ctx context.Context, cfg Config, m *metrics.Metrics, logger *slog.Logger) (eventstore.Store, projections.Storage, error) {
	store, storage, err := OpenDatabase(ctx, cfg.DB, DatabaseOptions{Schema: cfg.PGSchema, Cluster: cfg.Cluster, OnCommit: m.ObserveCommit,
		OnAppendLock: m.ObserveAppendLock, Logger: logger, TracerProvider: cfg.Tracing.Provider, Now: cfg.Now})
	if err == nil && cfg.ReadTables != nil {
		storage = cfg.ReadTables(storage)
	}
	return store, storage, err
}
