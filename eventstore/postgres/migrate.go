package postgres

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore"
)

// migrationFiles are the schema's versions: NNNN_name.sql, applied in order,
// each once, recorded in ticketd_schema_version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version", e.Name())
		}
		text, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate creates the schema and applies the migrations it lacks, in one
// transaction under an advisory lock, so stores opening at once apply each
// migration once. It refuses a schema that has an events table but no
// ticketd_schema_version (another application's table), and one migrated by
// a newer ticketd.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKeySQL+`)`, "migrate", s.opts.Schema); err != nil {
			return fmt.Errorf("lock for migration: %w", classify(err))
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.opts.Schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s: %w", s.opts.Schema, classify(err))
		}
		current, err := s.schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if latest := ms[len(ms)-1].version; current > latest {
			return fmt.Errorf("schema %s is at version %d, newer than this ticketd knows (%d)", s.opts.Schema, current, latest)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if err := s.apply(ctx, tx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// schemaVersion returns the schema's version, creating the version table
// when the schema has no ticketd tables yet.
func (s *Store) schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var hasVersions, hasEvents bool
	err := tx.QueryRow(ctx, `SELECT to_regclass('ticketd_schema_version') IS NOT NULL, to_regclass('events') IS NOT NULL`).Scan(&hasVersions, &hasEvents)
	if err != nil {
		return 0, fmt.Errorf("inspect schema %s: %w", s.opts.Schema, classify(err))
	}
	if !hasVersions && hasEvents {
		return 0, fmt.Errorf("schema %s has a table events that is not ticketd's event log (no ticketd_schema_version): choose another schema", s.opts.Schema)
	}
	if !hasVersions {
		_, err := tx.Exec(ctx, `CREATE TABLE ticketd_schema_version (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)
		if err != nil {
			return 0, fmt.Errorf("create ticketd_schema_version: %w", classify(err))
		}
		return 0, nil
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM ticketd_schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", classify(err))
	}
	return v, nil
}

// apply runs m and records it.
func (s *Store) apply(ctx context.Context, tx pgx.Tx, m migration) error {
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, classify(err))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ticketd_schema_version (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, classify(err))
	}
	s.opts.Logger.Info("migrated the event log", "db", s.url, "schema", s.opts.Schema, "migration", m.name)
	return nil
}

// checkLogExists makes sure a ReadOnly or MustExist store finds an event log
// it knows; it fails with an error wrapping eventstore.ErrNoDatabase.
func (s *Store) checkLogExists(ctx context.Context) error {
	var has bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('ticketd_schema_version') IS NOT NULL`).Scan(&has); err != nil {
		return fmt.Errorf("inspect schema %s: %w", s.opts.Schema, classify(err))
	}
	if !has {
		return fmt.Errorf("schema %s holds %w", s.opts.Schema, eventstore.ErrNoDatabase)
	}
	return nil
}
