package main

import (
	"context"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// dbUsage describes --db; pgSchemaUsage describes --pg-schema of the
// commands that create ticketd's tables (serve, import, seed), and
// pgSchemaReadUsage of those that only use them (replay, verify, export).
const (
	dbUsage           = "SQLite database file (created with its folder if missing), or the postgres:// or postgresql:// URL of a PostgreSQL database, which must exist"
	pgSchemaUsage     = "PostgreSQL schema holding ticketd's tables, created when missing (a --db URL only)"
	pgSchemaReadUsage = "PostgreSQL schema holding ticketd's tables, which must exist: it is never created (a --db URL only)"
)

// database is the --db and --pg-schema flags of a tool.
type database struct{ db, schema string }

// register defines the flags on cmd; usage describes --db and
// schemaUsage --pg-schema for the tool.
func (d *database) register(cmd *command, usage, schemaUsage string) {
	cmd.String(&d.db, "db", "TICKETD_DB", service.DefaultConfig().DB, usage)
	cmd.String(&d.schema, "pg-schema", "TICKETD_PG_SCHEMA", service.DefaultConfig().PGSchema, schemaUsage)
}

// open opens the database and its read models' storage (see
// service.OpenDatabase), failing with a usage error on an invalid schema.
func (d *database) open(ctx context.Context, opts service.DatabaseOptions) (eventstore.Store, projections.Storage, error) {
	if err := service.CheckPGSchema(d.schema); err != nil {
		return nil, nil, err
	}
	opts.Schema = d.schema
	store, tables, err := service.OpenDatabase(ctx, d.db, opts)
	if err != nil && store != nil {
		store.Abandon()
		return nil, nil, err
	}
	return store, tables, err
}

// String returns the database as messages may show it, without a password.
func (d *database) String() string { return service.RedactDB(d.db) }
