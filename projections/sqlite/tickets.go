// Package sqlite keeps ticketd's read models' tables in the event log's
// SQLite file: the tickets table (a projections.TicketTable) and the sales
// tables (a projections.SalesTable). Rows and their checkpoint change in one
// derived-state transaction of the store (see Store.UpdateDerived), and
// rebuilds fold the log in SQL.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
)

const ticketsSchema = `
CREATE TABLE IF NOT EXISTS tickets (
	issue_position INTEGER PRIMARY KEY,
	id             TEXT    NOT NULL UNIQUE,
	theater_name   TEXT    NOT NULL,
	user_id        TEXT    NOT NULL,
	movie_title    TEXT    NOT NULL,
	price_krw      INTEGER NOT NULL,
	status         TEXT    NOT NULL,
	memo           TEXT,
	issued_at      TEXT    NOT NULL,
	canceled_at    TEXT,
	version        INTEGER NOT NULL
);
DROP INDEX IF EXISTS tickets_theater_name;
DROP INDEX IF EXISTS tickets_user_id;
DROP INDEX IF EXISTS tickets_movie_title;
DROP INDEX IF EXISTS tickets_status;
`

const ticketColumns = `id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version`

// TicketTable is the tickets table in the file of one store.
type TicketTable struct {
	store *sqlite.Store
	db    *sql.DB
}

var _ projections.TicketTable = (*TicketTable)(nil)

// Tickets returns the tickets table of store as it is, for reading (a
// read-only store) or after CreateTickets.
func Tickets(store *sqlite.Store) *TicketTable {
	return &TicketTable{store: store, db: store.ReadDB()}
}

// CreateTickets creates the tickets table of store when it is missing and
// returns it; it fails on a read-only store.
func CreateTickets(ctx context.Context, store *sqlite.Store) (*TicketTable, error) {
	if err := createSchema(ctx, store, ticketsSchema); err != nil {
		return nil, fmt.Errorf("create tickets table: %w", err)
	}
	return Tickets(store), nil
}

// createSchema runs schema, statements that create what is missing, in one
// derived-state transaction of store.
func createSchema(ctx context.Context, store *sqlite.Store, schema string) error {
	return store.UpdateDerived(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, schema)
		return err
	})
}

func (t *TicketTable) Checkpoint(ctx context.Context) (int64, error) {
	return t.store.Checkpoint(ctx, projections.TicketsCheckpoint)
}

func (t *TicketTable) Update(ctx context.Context, fn func(projections.TicketWriter) error) error {
	return t.store.UpdateDerived(ctx, func(tx *sql.Tx) error {
		w, err := newTicketWriter(ctx, tx)
		if err != nil {
			return err
		}
		defer w.close()
		return fn(w)
	})
}

func (t *TicketTable) Get(ctx context.Context, id string) (domain.Ticket, bool, error) {
	ticket, err := scanTicket(t.db.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Ticket{}, false, nil
	}
	return ticket, err == nil, err
}

func (t *TicketTable) Issued(ctx context.Context, positions []int64) ([]domain.Ticket, error) {
	args := make([]any, len(positions))
	for i, p := range positions {
		args[i] = p
	}
	placeholders := strings.TrimSuffix(strings.Repeat("?,", len(positions)), ",")
	rows, err := t.db.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE issue_position IN (`+placeholders+`) ORDER BY issue_position`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tickets := make([]domain.Ticket, 0, len(positions))
	for rows.Next() {
		ticket, err := scanTicket(rows)
		if err != nil {
			return nil, err
		}
		tickets = append(tickets, ticket)
	}
	return tickets, rows.Err()
}

func (t *TicketTable) EachEntry(ctx context.Context, fn func(projections.IndexEntry) error) error {
	rows, err := t.db.QueryContext(ctx, `SELECT issue_position, id, theater_name, user_id, movie_title, status FROM tickets ORDER BY issue_position`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *TicketTable) Rebuild(ctx context.Context, from, to int64) error {
	return t.store.UpdateDerived(ctx, func(tx *sql.Tx) error {
		if from == 0 {
			if _, err := tx.ExecContext(ctx, ticketsSchema+`DELETE FROM tickets;`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, foldIssuedSQL, domain.StatusIssued, from, to, domain.TypeTicketIssued); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, foldRefundedSQL, domain.StatusCanceled, from, to, domain.TypeTicketRefunded); err != nil {
			return err
		}
		return sqlite.SaveCheckpointTx(tx, projections.TicketsCheckpoint, to)
	})
}

// foldIssuedSQL inserts the row of every ticket issued at a position in
// (?2, ?3], as domain.Evolve builds it from a TicketIssued event.
const foldIssuedSQL = `INSERT INTO tickets
	(issue_position, id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version)
	SELECT position, stream_id, data ->> 'theater_name', data ->> 'user_id', data ->> 'movie_title',
		data ->> 'price_krw', ?1, data ->> 'memo', occurred_at, NULL, version
	FROM events WHERE position > ?2 AND position <= ?3 AND type = ?4 ORDER BY position`

// foldRefundedSQL cancels every ticket refunded at a position in (?2, ?3],
// as domain.Evolve does for a TicketRefunded event.
const foldRefundedSQL = `UPDATE tickets SET status = ?1, canceled_at = refund.occurred_at, version = refund.version
	FROM (SELECT stream_id, occurred_at, version FROM events WHERE position > ?2 AND position <= ?3 AND type = ?4) AS refund
	WHERE tickets.id = refund.stream_id`

// ticketWriter holds the statements that change the table inside one transaction.
type ticketWriter struct {
	ctx            context.Context
	tx             *sql.Tx
	insert, refund *sql.Stmt
}

func newTicketWriter(ctx context.Context, tx *sql.Tx) (*ticketWriter, error) {
	insert, err := tx.PrepareContext(ctx, `INSERT INTO tickets
		(issue_position, id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`)
	if err != nil {
		return nil, err
	}
	refund, err := tx.PrepareContext(ctx, `UPDATE tickets SET status = ?, canceled_at = ?, version = ? WHERE id = ?
		RETURNING issue_position, theater_name, user_id, movie_title`)
	if err != nil {
		insert.Close()
		return nil, err
	}
	return &ticketWriter{ctx: ctx, tx: tx, insert: insert, refund: refund}, nil
}

func (w *ticketWriter) close() {
	w.insert.Close()
	w.refund.Close()
}

func (w *ticketWriter) Insert(issuePosition int64, t domain.Ticket) error {
	_, err := w.insert.ExecContext(w.ctx, issuePosition, t.ID, t.TheaterName, t.UserID, t.MovieTitle, t.PriceKRW,
		string(t.Status), t.Memo, domain.FormatTime(t.IssuedAt), t.Version)
	return err
}

func (w *ticketWriter) Cancel(id string, canceledAt time.Time, version int64) (projections.IndexEntry, error) {
	e := projections.IndexEntry{ID: id}
	err := w.refund.QueryRowContext(w.ctx, string(domain.StatusCanceled), domain.FormatTime(canceledAt), version, id).
		Scan(&e.IssuePosition, &e.TheaterName, &e.UserID, &e.MovieTitle)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("refund of %s: ticket not in the read table", id)
	}
	return e, err
}

func (w *ticketWriter) SaveCheckpoint(prev, pos int64) error {
	return sqlite.MoveCheckpointTx(w.ctx, w.tx, projections.TicketsCheckpoint, prev, pos)
}

func (t *TicketTable) Entries(ctx context.Context, ids []string) (map[string]projections.IndexEntry, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	placeholders := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	rows, err := t.db.QueryContext(ctx, `SELECT issue_position, id, theater_name, user_id, movie_title, status FROM tickets WHERE id IN (`+placeholders+`)`, args...)
	if err != nil {
		return nil, err
	}
	return collectEntries(rows)
}

// collectEntries reads rows of (issue_position, id, theater_name, user_id,
// movie_title, status) into index entries by id, and closes rows.
func collectEntries(rows *sql.Rows) (map[string]projections.IndexEntry, error) {
	defer rows.Close()
	entries := map[string]projections.IndexEntry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		entries[e.ID] = e
	}
	return entries, rows.Err()
}

// scanEntry scans an index entry's columns, as collectEntries lists them.
func scanEntry(s scanner) (projections.IndexEntry, error) {
	var e projections.IndexEntry
	var status string
	err := s.Scan(&e.IssuePosition, &e.ID, &e.TheaterName, &e.UserID, &e.MovieTitle, &status)
	e.Canceled = status == string(domain.StatusCanceled)
	return e, err
}

func (t *TicketTable) Snapshot(ctx context.Context, fn func(projections.TicketSnapshot) error) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	snap := &snapshot{ctx: ctx, tx: tx}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE name = ?), 0)`, projections.TicketsCheckpoint).Scan(&snap.checkpoint); err != nil {
		return fmt.Errorf("read tickets checkpoint: %w", err)
	}
	return fn(snap)
}

// snapshot reads the table and the log in one read transaction.
type snapshot struct {
	ctx        context.Context
	tx         *sql.Tx
	checkpoint int64
}

func (s *snapshot) Checkpoint() int64 { return s.checkpoint }

func (s *snapshot) Rows() iter.Seq2[projections.Row, error] {
	return queryRows(s.ctx, s.tx, `SELECT issue_position, `+ticketColumns+` FROM tickets ORDER BY id`, nil, func(rows *sql.Rows) (projections.Row, error) {
		var r projections.Row
		t, err := scanTicket(scanPrefix{rows, &r.IssuePosition})
		r.Ticket = t
		return r, err
	})
}

func (s *snapshot) EventsByStream(until int64) iter.Seq2[eventstore.Record, error] {
	return queryRows(s.ctx, s.tx, `SELECT position, stream_id, type, occurred_at, data FROM events
		WHERE position <= ? ORDER BY stream_id, version`, []any{until}, func(rows *sql.Rows) (eventstore.Record, error) {
		var r eventstore.Record
		var occurredAt, data string
		if err := rows.Scan(&r.Position, &r.StreamID, &r.Type, &occurredAt, &data); err != nil {
			return r, err
		}
		at, err := domain.ParseTime(occurredAt)
		if err != nil {
			return r, fmt.Errorf("event at position %d: occurred_at: %w", r.Position, err)
		}
		r.OccurredAt, r.Data = at, []byte(data)
		return r, nil
	})
}

// queryRows yields scan of every row query returns; a failure is yielded
// once, last.
func queryRows[T any](ctx context.Context, tx *sql.Tx, query string, args []any, scan func(*sql.Rows) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			yield(zero, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if !yield(v, err) || err != nil {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(zero, err)
		}
	}
}

// scanPrefix scans a leading issue_position column before a ticket's columns.
type scanPrefix struct {
	rows          *sql.Rows
	issuePosition *int64
}

func (s scanPrefix) Scan(dest ...any) error {
	return s.rows.Scan(append([]any{s.issuePosition}, dest...)...)
}

type scanner interface {
	Scan(dest ...any) error
}

func scanTicket(s scanner) (domain.Ticket, error) {
	var t domain.Ticket
	var status, issuedAt string
	var memo, canceledAt sql.NullString
	if err := s.Scan(&t.ID, &t.TheaterName, &t.UserID, &t.MovieTitle, &t.PriceKRW, &status, &memo, &issuedAt, &canceledAt, &t.Version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Ticket{}, err
		}
		return domain.Ticket{}, fmt.Errorf("read ticket: %w", err)
	}
	t.Status = domain.Status(status)
	if memo.Valid {
		t.Memo = &memo.String
	}
	var err error
	if t.IssuedAt, err = domain.ParseTime(issuedAt); err != nil {
		return domain.Ticket{}, fmt.Errorf("ticket %s: issued_at: %w", t.ID, err)
	}
	if canceledAt.Valid {
		at, err := domain.ParseTime(canceledAt.String)
		if err != nil {
			return domain.Ticket{}, fmt.Errorf("ticket %s: canceled_at: %w", t.ID, err)
		}
		t.CanceledAt = &at
	}
	return t, nil
}

// Tables returns the read models' tables of store as they are, for reading
// (a read-only store) or after CreateTables.
func Tables(store *sqlite.Store) projections.Tables {
	return projections.Tables{Tickets: Tickets(store), Sales: Sales(store)}
}

// CreateTables creates the read models' tables of store when they are
// missing and returns them; it fails on a read-only store.
func CreateTables(ctx context.Context, store *sqlite.Store) (projections.Tables, error) {
	tickets, err := CreateTickets(ctx, store)
	if err != nil {
		return projections.Tables{}, err
	}
	sales, err := CreateSales(ctx, store)
	if err != nil {
		return projections.Tables{}, err
	}
	return projections.Tables{Tickets: tickets, Sales: sales}, nil
}
