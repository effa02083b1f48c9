// Package sqlite keeps the tables of any read model in the event log's
// SQLite file: a projections.Storage through the engine-neutral
// projections/sqlstore. Rows and their checkpoint change in one
// derived-state transaction of the store (see Store.UpdateDerived).
package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/sqlstore"
)

// Storage returns the read models' storage in the file of store; it writes
// nothing until a model's tables are prepared.
func Storage(store *sqlite.Store) projections.Storage {
	return sqlstore.New(dialect{store: store, db: store.ReadDB()})
}

// dialect is SQLite's part of sqlstore.
type dialect struct {
	store *sqlite.Store
	db    *sql.DB // read connections
}

func (d dialect) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.store.UpdateDerived(ctx, func(tx *sql.Tx) error { return fn(txOf{Tx: tx}) })
}

func (d dialect) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(txOf{Tx: tx, store: d.store})
}

func (d dialect) Single(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return fn(dbOf{db: d.db, store: d.store})
}

func (dialect) Placeholder(int) string { return "?" }

func (dialect) In(c projections.Column, values []any, _ int) (string, []any) {
	return c.Name + ` IN (` + strings.TrimSuffix(strings.Repeat("?,", len(values)), ",") + `)`, values
}

func (dialect) ColumnType(t projections.ColumnType) string {
	if t == projections.Integer {
		return "INTEGER"
	}
	return "TEXT"
}

// TableOptions stores a table without an integer key in its key's B-tree.
func (dialect) TableOptions(t projections.Table) string {
	if t.Key == 1 && t.Columns[0].Type == projections.Integer {
		return ""
	}
	return " WITHOUT ROWID"
}

func (dialect) LockSchema(context.Context, sqlstore.Tx) error { return nil } // writes are serialized

func (dialect) TableExists(ctx context.Context, tx sqlstore.Tx, name string) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	return rows.Next(), rows.Err()
}

func (dialect) MoveCheckpoint(ctx context.Context, tx sqlstore.Tx, name string, prev, pos int64) error {
	return sqlite.MoveCheckpointTx(ctx, tx.(txOf).Tx, name, prev, pos)
}

func (d dialect) Checkpoint(ctx context.Context, name string) (int64, error) {
	return d.store.Checkpoint(ctx, name)
}

// rowsPerInsert is how many rows one INSERT statement writes at most.
const rowsPerInsert = 64

// WriteRows writes rows with INSERT statements of up to rowsPerInsert rows
// each, which costs far less per row than a statement per row.
func (dialect) WriteRows(ctx context.Context, tx sqlstore.Tx, t projections.Table, op projections.Op, rows []projections.Row) error {
	one := `(` + strings.TrimSuffix(strings.Repeat("?,", len(t.Columns)), ",") + `)`
	var stmt *sql.Stmt
	stmtRows := 0
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	args := make([]any, 0, min(len(rows), rowsPerInsert)*len(t.Columns))
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		if n != stmtRows {
			if stmt != nil {
				stmt.Close()
			}
			var err error
			if stmt, err = tx.(txOf).PrepareContext(ctx, sqlstore.Upsert(t, op, `VALUES `+strings.Repeat(one+`,`, n-1)+one)); err != nil {
				return err
			}
			stmtRows = n
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// txOf runs statements in a transaction, dbOf outside of any. A txOf's
// queries run the store's prepared statements when store is set (only for
// transactions on the read connections: see Store.ReadStatement); a dbOf's
// always do (Store.QueryRead).
type (
	txOf struct {
		*sql.Tx
		store *sqlite.Store
	}
	dbOf struct {
		db    *sql.DB
		store *sqlite.Store
	}
)

func (t txOf) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.ExecContext(ctx, query, args...)
	return err
}

func (t txOf) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if t.store != nil {
		if stmt := t.store.ReadStatement(ctx, query); stmt != nil {
			rows, err := t.StmtContext(ctx, stmt).QueryContext(ctx, args...)
			return rowsOf{rows}, err
		}
	}
	rows, err := t.QueryContext(ctx, query, args...)
	return rowsOf{rows}, err
}

func (d dbOf) Exec(ctx context.Context, query string, args ...any) error {
	_, err := d.db.ExecContext(ctx, query, args...)
	return err
}

func (d dbOf) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.store.QueryRead(ctx, query, args...)
	return rowsOf{rows}, err
}

// rowsOf are the rows of a query.
type rowsOf struct{ *sql.Rows }

func (r rowsOf) Close() { r.Rows.Close() }
