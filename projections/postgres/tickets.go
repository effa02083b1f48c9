// Package postgres keeps ticketd's read models' tables in the event log's
// PostgreSQL schema: the tickets table (a projections.TicketTable) and the
// sales tables (a projections.SalesTable), created by versioned, embedded
// migrations. Rows and their checkpoint change in one derived-state
// transaction of the store (see Store.UpdateDerived), reads and snapshots run
// in one REPEATABLE READ transaction, and rebuilds fold the log in SQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/projections"
)

const ticketColumns = `id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version`

// TicketTable is the tickets table in the schema of one store.
type TicketTable struct{ store *postgres.Store }

var _ projections.TicketTable = (*TicketTable)(nil)

// Tables returns the read models' tables of store as they are, for reading
// (a read-only store) or after CreateTables.
func Tables(store *postgres.Store) projections.Tables {
	return projections.Tables{Tickets: &TicketTable{store}, Sales: &SalesTable{store}}
}

// CreateTables brings the read models' tables of store up to date (see
// migrations/) and returns them; it fails on a read-only store.
func CreateTables(ctx context.Context, store *postgres.Store) (projections.Tables, error) {
	if err := store.UpdateDerived(ctx, func(tx pgx.Tx) error { return migrate(ctx, tx) }); err != nil {
		return projections.Tables{}, fmt.Errorf("create read models' tables: %w", err)
	}
	return Tables(store), nil
}

func (t *TicketTable) Checkpoint(ctx context.Context) (int64, error) {
	return t.store.Checkpoint(ctx, projections.TicketsCheckpoint)
}

func (t *TicketTable) Update(ctx context.Context, fn func(projections.TicketWriter) error) error {
	return t.store.UpdateDerived(ctx, func(tx pgx.Tx) error {
		return fn(&ticketWriter{ctx: ctx, store: t.store, tx: tx})
	})
}

func (t *TicketTable) Get(ctx context.Context, id string) (ticket domain.Ticket, found bool, err error) {
	err = t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		ticket, err = scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Ticket{}, false, nil
	}
	return ticket, err == nil, err
}

func (t *TicketTable) Issued(ctx context.Context, positions []int64) ([]domain.Ticket, error) {
	tickets := make([]domain.Ticket, 0, len(positions))
	err := t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE issue_position = ANY($1) ORDER BY issue_position`, positions)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ticket, err := scanTicket(rows)
			if err != nil {
				return err
			}
			tickets = append(tickets, ticket)
		}
		return rows.Err()
	})
	return tickets, err
}

func (t *TicketTable) EachEntry(ctx context.Context, fn func(projections.IndexEntry) error) error {
	return t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM tickets ORDER BY issue_position`)
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
	})
}

func (t *TicketTable) Rebuild(ctx context.Context, from, to int64) error {
	return t.store.UpdateDerived(ctx, func(tx pgx.Tx) error {
		if from == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM tickets`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, foldIssuedSQL, string(domain.StatusIssued), from, to, domain.TypeTicketIssued); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, foldRefundedSQL, string(domain.StatusCanceled), from, to, domain.TypeTicketRefunded); err != nil {
			return err
		}
		return saveCheckpoint(ctx, tx, projections.TicketsCheckpoint, to)
	})
}

// foldIssuedSQL inserts the row of every ticket issued at a position in
// ($2, $3], as domain.Evolve builds it from a TicketIssued event.
const foldIssuedSQL = `INSERT INTO tickets
	(issue_position, id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version)
	SELECT position, stream_id, data::jsonb ->> 'theater_name', data::jsonb ->> 'user_id', data::jsonb ->> 'movie_title',
		(data::jsonb ->> 'price_krw')::bigint, $1, data::jsonb ->> 'memo', occurred_at, NULL, version
	FROM events WHERE position > $2 AND position <= $3 AND type = $4 ORDER BY position`

// foldRefundedSQL cancels every ticket refunded at a position in ($2, $3],
// as domain.Evolve does for a TicketRefunded event.
const foldRefundedSQL = `UPDATE tickets SET status = $1, canceled_at = refund.occurred_at, version = refund.version
	FROM (SELECT stream_id, occurred_at, version FROM events WHERE position > $2 AND position <= $3 AND type = $4) AS refund
	WHERE tickets.id = refund.stream_id`

// saveCheckpoint stores pos under name inside tx, committed with the rows
// it reflects.
func saveCheckpoint(ctx context.Context, tx pgx.Tx, name string, pos int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, pos)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// readCheckpoint reads the checkpoint name inside tx, 0 when none is stored.
func readCheckpoint(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var pos int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE name = $1), 0)`, name).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// moveCheckpoint sets checkpoint name from prev to pos inside tx and
// announces the commit to the other stores on the schema (see
// postgres.Store.NotifyDerived); it fails with
// projections.ErrCheckpointMoved when the checkpoint is not prev (a
// missing row is 0). The UPDATE locks the row, so a competing writer waits
// for tx and then finds the checkpoint moved.
func moveCheckpoint(ctx context.Context, store *postgres.Store, tx pgx.Tx, name string, prev, pos int64) error {
	if err := postgres.MoveCheckpointTx(ctx, tx, name, prev, pos); err != nil {
		return err
	}
	return store.NotifyDerived(ctx, tx)
}

// entryColumns are the columns scanEntry reads.
const entryColumns = `issue_position, id, theater_name, user_id, movie_title, status`

// scanEntry scans the entryColumns of a row.
func scanEntry(row pgx.Row) (projections.IndexEntry, error) {
	var e projections.IndexEntry
	var status string
	err := row.Scan(&e.IssuePosition, &e.ID, &e.TheaterName, &e.UserID, &e.MovieTitle, &status)
	e.Canceled = status == string(domain.StatusCanceled)
	return e, err
}

func (t *TicketTable) Entries(ctx context.Context, ids []string) (map[string]projections.IndexEntry, error) {
	var list []projections.IndexEntry
	err := t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM tickets WHERE id = ANY($1)`, ids)
		if err == nil {
			list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.IndexEntry, error) { return scanEntry(row) })
		}
		return err
	})
	entries := make(map[string]projections.IndexEntry, len(list))
	for _, e := range list {
		entries[e.ID] = e
	}
	return entries, err
}

// ticketWriter changes the table inside one transaction of Update.
type ticketWriter struct {
	ctx   context.Context
	store *postgres.Store
	tx    pgx.Tx
}

func (w *ticketWriter) Insert(issuePosition int64, t domain.Ticket) error {
	_, err := w.tx.Exec(w.ctx, `INSERT INTO tickets
		(issue_position, id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)`,
		issuePosition, t.ID, t.TheaterName, t.UserID, t.MovieTitle, t.PriceKRW, string(t.Status), t.Memo, domain.FormatTime(t.IssuedAt), t.Version)
	return err
}

func (w *ticketWriter) Cancel(id string, canceledAt time.Time, version int64) (projections.IndexEntry, error) {
	e := projections.IndexEntry{ID: id}
	err := w.tx.QueryRow(w.ctx, `UPDATE tickets SET status = $1, canceled_at = $2, version = $3 WHERE id = $4
		RETURNING issue_position, theater_name, user_id, movie_title`,
		string(domain.StatusCanceled), domain.FormatTime(canceledAt), version, id).
		Scan(&e.IssuePosition, &e.TheaterName, &e.UserID, &e.MovieTitle)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("refund of %s: ticket not in the read table", id)
	}
	return e, err
}

func (w *ticketWriter) SaveCheckpoint(prev, pos int64) error {
	return moveCheckpoint(w.ctx, w.store, w.tx, projections.TicketsCheckpoint, prev, pos)
}

func (t *TicketTable) Snapshot(ctx context.Context, fn func(projections.TicketSnapshot) error) error {
	return t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		snap := &snapshot{ctx: ctx, tx: tx}
		var err error
		if snap.checkpoint, err = readCheckpoint(ctx, tx, projections.TicketsCheckpoint); err != nil {
			return err
		}
		return fn(snap)
	})
}

// snapshot reads the table and the log in one REPEATABLE READ transaction.
// Its sequences read through cursors, so that several can be consumed at
// once on the transaction's one connection.
type snapshot struct {
	ctx        context.Context
	tx         pgx.Tx
	checkpoint int64
	cursors    int
}

func (s *snapshot) Checkpoint() int64 { return s.checkpoint }

func (s *snapshot) Rows() iter.Seq2[projections.Row, error] {
	return cursorRows(s, `SELECT issue_position, `+ticketColumns+` FROM tickets ORDER BY id`, func(rows pgx.Rows) (projections.Row, error) {
		var r projections.Row
		t, err := scanTicket(scanPrefix{rows, &r.IssuePosition})
		r.Ticket = t
		return r, err
	})
}

func (s *snapshot) EventsByStream(until int64) iter.Seq2[eventstore.Record, error] {
	query := fmt.Sprintf(`SELECT position, stream_id, type, occurred_at, data FROM events
		WHERE position <= %d ORDER BY stream_id COLLATE "C", version`, until)
	return cursorRows(s, query, func(rows pgx.Rows) (eventstore.Record, error) {
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

// fetchSize is how many rows a cursor fetches at a time.
const fetchSize = 500

// cursorRows yields scan of every row query (without parameters) returns,
// read through a cursor of s's transaction fetchSize rows at a time; a
// failure is yielded once, last.
func cursorRows[T any](s *snapshot, query string, scan func(pgx.Rows) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		s.cursors++
		name := fmt.Sprintf("snapshot_%d", s.cursors)
		if _, err := s.tx.Exec(s.ctx, `DECLARE `+name+` NO SCROLL CURSOR FOR `+query); err != nil {
			yield(zero, err)
			return
		}
		for {
			batch, err := fetch(s, name, scan)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, v := range batch {
				if !yield(v, nil) {
					return
				}
			}
			if len(batch) < fetchSize {
				return
			}
		}
	}
}

// fetch reads the next rows of cursor name. The FETCH is described anew
// each time: the same text fetches other columns in another snapshot, which
// a cached description would misread.
func fetch[T any](s *snapshot, name string, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := s.tx.Query(s.ctx, fmt.Sprintf(`FETCH %d FROM %s`, fetchSize, name), pgx.QueryExecModeDescribeExec)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(rows) })
}

// scanPrefix scans a leading issue_position column before a ticket's columns.
type scanPrefix struct {
	rows          pgx.Rows
	issuePosition *int64
}

func (s scanPrefix) Scan(dest ...any) error {
	return s.rows.Scan(append([]any{s.issuePosition}, dest...)...)
}

func scanTicket(row pgx.Row) (domain.Ticket, error) {
	var t domain.Ticket
	var status, issuedAt string
	var canceledAt *string
	if err := row.Scan(&t.ID, &t.TheaterName, &t.UserID, &t.MovieTitle, &t.PriceKRW, &status, &t.Memo, &issuedAt, &canceledAt, &t.Version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Ticket{}, err
		}
		return domain.Ticket{}, fmt.Errorf("read ticket: %w", err)
	}
	t.Status = domain.Status(status)
	var err error
	if t.IssuedAt, err = domain.ParseTime(issuedAt); err != nil {
		return domain.Ticket{}, fmt.Errorf("ticket %s: issued_at: %w", t.ID, err)
	}
	if canceledAt != nil {
		at, err := domain.ParseTime(*canceledAt)
		if err != nil {
			return domain.Ticket{}, fmt.Errorf("ticket %s: canceled_at: %w", t.ID, err)
		}
		t.CanceledAt = &at
	}
	return t, nil
}
