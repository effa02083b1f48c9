// Package postgres keeps the tables of any read model in the event log's
// PostgreSQL schema: a projections.Storage through the engine-neutral
// projections/sqlstore. Rows and their checkpoint change in one
// derived-state transaction of the store (see Store.UpdateDerived), which
// the store's leader lease fences, and announce the commit to the stores
// that follow the tables; reads run in one REPEATABLE READ transaction, or
// outside any when they make one statement.
package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/sqlstore"
)

// Storage returns the read models' storage in the schema of store; it
// writes nothing until a model's tables are prepared.
func Storage(store *postgres.Store) projections.Storage {
	return sqlstore.New(dialect{store})
}

// dialect is PostgreSQL's part of sqlstore.
type dialect struct{ store *postgres.Store }

func (d dialect) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.store.UpdateDerived(ctx, func(tx pgx.Tx) error { return fn(txOf{tx}) })
}

func (d dialect) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.store.ReadSnapshot(ctx, func(tx pgx.Tx) error { return fn(txOf{tx}) })
}

func (d dialect) Single(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.store.ReadSingle(ctx, func(pool postgres.Statements) error { return fn(txOf{pool}) })
}

func (dialect) Placeholder(n int) string { return fmt.Sprintf("$%d", n) }

// In passes values as one array of the column's type.
func (dialect) In(c projections.Column, values []any, n int) (string, []any) {
	return fmt.Sprintf("%s = ANY($%d::%s[])", c.Name, n, arrayType(c.Type)), []any{column(c.Type, values)}
}

// arrayType is the type of an array of values of type t.
func arrayType(t projections.ColumnType) string {
	if t == projections.Integer {
		return "bigint"
	}
	return "text"
}

// column returns values, each of type t, as a slice pgx sends as an array.
func column(t projections.ColumnType, values []any) any {
	switch t {
	case projections.Integer:
		out := make([]int64, len(values))
		for i, v := range values {
			out[i] = v.(int64)
		}
		return out
	case projections.Text:
		out := make([]string, len(values))
		for i, v := range values {
			out[i] = v.(string)
		}
		return out
	}
	out := make([]*string, len(values))
	for i, v := range values {
		out[i] = v.(*string)
	}
	return out
}

// ColumnType compares text byte-wise (COLLATE "C"), as SQLite does.
func (dialect) ColumnType(t projections.ColumnType) string {
	if t == projections.Integer {
		return "bigint"
	}
	return `text COLLATE "C"`
}

func (dialect) TableOptions(projections.Table) string { return "" }

// LockSchema takes an advisory lock of the schema, so that stores opening
// at once prepare each model's tables once.
func (dialect) LockSchema(ctx context.Context, tx sqlstore.Tx) error {
	return tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('ticketd projections ' || current_schema(), 0))`)
}

func (dialect) TableExists(ctx context.Context, tx sqlstore.Tx, name string) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT to_regclass($1) IS NOT NULL`, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var exists bool
	for rows.Next() {
		err = rows.Scan(&exists)
	}
	if err == nil {
		err = rows.Err()
	}
	return exists, err
}

// MoveCheckpoint also announces the commit to the other stores on the
// schema (see postgres.Store.NotifyDerived).
func (d dialect) MoveCheckpoint(ctx context.Context, tx sqlstore.Tx, name string, prev, pos int64) error {
	pgTx := tx.(txOf).tx.(pgx.Tx) // Write's, the only transaction that moves one
	if err := postgres.MoveCheckpointTx(ctx, pgTx, name, prev, pos); err != nil {
		return err
	}
	return d.store.NotifyDerived(ctx, pgTx)
}

func (d dialect) Checkpoint(ctx context.Context, name string) (int64, error) {
	return d.store.Checkpoint(ctx, name)
}

// WriteRows writes every row in one statement, each column an array.
func (dialect) WriteRows(ctx context.Context, tx sqlstore.Tx, t projections.Table, op projections.Op, rows []projections.Row) error {
	arrays := make([]string, len(t.Columns))
	args := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		arrays[i] = fmt.Sprintf("$%d::%s[]", i+1, arrayType(c.Type))
		values := make([]any, len(rows))
		for j, r := range rows {
			values[j] = r[i]
		}
		args[i] = column(c.Type, values)
	}
	return tx.Exec(ctx, sqlstore.Upsert(t, op, `SELECT * FROM unnest(`+strings.Join(arrays, ", ")+`)`), args...)
}

// txOf runs statements in a transaction, or on the pool for Single.
type txOf struct{ tx postgres.Statements }

func (t txOf) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.Exec(ctx, query, args...)
	return err
}

func (t txOf) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	return rowsOf{rows}, err
}

// rowsOf are the rows of a query.
type rowsOf struct{ pgx.Rows }

func (r rowsOf) Close() { r.Rows.Close() }
