package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFiles are the read models' schema versions: NNNN_name.sql, in
// name order, each applied once and recorded in ticketd_projections_version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies the migrations the schema lacks inside tx, under an
// advisory lock of the schema so that stores opening at once apply each
// once. It refuses a schema migrated by a newer ticketd.
func migrate(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('ticketd projections ' || current_schema(), 0))`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ticketd_projections_version (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM ticketd_projections_version`).Scan(&current); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	if latest := len(names); current > latest {
		return fmt.Errorf("read models' schema is at version %d, newer than this ticketd knows (%d)", current, latest)
	}
	for i, name := range names[current:] {
		if err := apply(ctx, tx, name, current+i+1); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// apply runs the migration file name, which must be of version, and
// records it.
func apply(ctx context.Context, tx pgx.Tx, name string, version int) error {
	base := strings.TrimPrefix(name, "migrations/")
	num, _, _ := strings.Cut(base, "_")
	if v, err := strconv.Atoi(num); err != nil || v != version {
		return fmt.Errorf("name must start with its version, %04d", version)
	}
	text, err := migrationFiles.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, string(text)); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO ticketd_projections_version (version, name) VALUES ($1, $2)`, version, base)
	return err
}
