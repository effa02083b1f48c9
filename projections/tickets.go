// Package projections builds ticketd's read models from the event log and
// answers queries from them. The tickets read table lives in the event log's
// SQLite file and records, in the same transaction as every change, the
// position it has applied up to.
package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// TicketsCheckpoint is the checkpoint name of the tickets projector.
const TicketsCheckpoint = "projection:tickets"

// catchUpBatch is how many events one catch-up transaction applies.
const catchUpBatch = 2000

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

// Log is what the projectors need of the event log.
type Log interface {
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	Head() int64
	Checkpoint(ctx context.Context, name string) (int64, error)
	UpdateDerived(ctx context.Context, fn func(*sql.Tx) error) error
	ReadDB() *sql.DB
}

// Tickets is the tickets read model: its projector (a Watermill handler) and
// its queries. Rows live in the tickets table; filtering, counting and paging
// use an in-memory index of it (see listIndex). It is safe for concurrent use.
type Tickets struct {
	follower
	db *sql.DB

	applyMu sync.Mutex // one apply at a time: checkpoint read-modify-write

	// viewMu makes each apply (table commit and index update) atomic for
	// list queries, which read the index and then the rows.
	viewMu sync.RWMutex
	index  *listIndex
	cache  *ticketCache

	// onApplied is called with each applied event's commit time; see SetAppliedHook.
	onApplied func(occurredAt time.Time)
}

// SetAppliedHook makes the projector call fn with the commit time of every
// event right after its change became visible (for lag metrics). Call it
// before the projector receives messages; fn must be fast.
func (t *Tickets) SetAppliedHook(fn func(occurredAt time.Time)) { t.onApplied = fn }

// OpenTickets creates the read table when missing and loads its checkpoint.
func OpenTickets(ctx context.Context, log Log, logger *slog.Logger) (*Tickets, error) {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Tickets{follower: follower{name: TicketsCheckpoint, log: log, logger: logger}, db: log.ReadDB(), cache: newTicketCache()}
	t.follower.apply = t.apply
	if err := log.UpdateDerived(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, ticketsSchema)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create tickets table: %w", err)
	}
	pos, err := log.Checkpoint(ctx, TicketsCheckpoint)
	if err != nil {
		return nil, err
	}
	if t.index, err = loadListIndex(ctx, t.db); err != nil {
		return nil, err
	}
	t.applied.Advance(pos)
	return t, nil
}

// rebuildChunk is how many log positions one rebuild transaction covers.
const rebuildChunk = 50_000

// RebuildTickets empties the tickets table, resets its checkpoint and applies
// the whole log again, returning how many events it applied. Meant for a
// stopped service (`ticketd replay`, `ticketd import`). It folds the log in
// SQL, a chunk of positions per transaction (tickets issued in the chunk are
// inserted, then tickets refunded in it are canceled), which is many times
// faster than applying events one by one; the tests hold it to producing the
// same table as the projector.
func RebuildTickets(ctx context.Context, log Log, logger *slog.Logger, progress func(applied int64)) (int64, error) {
	err := log.UpdateDerived(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, ticketsSchema+`DELETE FROM tickets;`); err != nil {
			return err
		}
		return eventstore.SaveCheckpointTx(tx, TicketsCheckpoint, 0)
	})
	if err != nil {
		return 0, fmt.Errorf("clear tickets table: %w", err)
	}
	head := log.Head()
	for from := int64(0); from < head; from += rebuildChunk {
		to := min(from+rebuildChunk, head)
		if err := log.UpdateDerived(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, foldIssuedSQL, domain.StatusIssued, from, to, domain.TypeTicketIssued); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, foldRefundedSQL, domain.StatusCanceled, from, to, domain.TypeTicketRefunded); err != nil {
				return err
			}
			return eventstore.SaveCheckpointTx(tx, TicketsCheckpoint, to)
		}); err != nil {
			return from, fmt.Errorf("rebuild tickets up to position %d: %w", to, err)
		}
		if progress != nil {
			progress(to)
		}
	}
	return head, nil
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

// apply writes records (consecutive, in position order) and the checkpoint in
// one transaction; records at or below the checkpoint are skipped.
func (t *Tickets) apply(ctx context.Context, records []eventstore.Record) error {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	fresh, err := t.after(records, t.applied.Value())
	if err != nil || len(fresh) == 0 {
		return err
	}
	var issued, canceled []indexedTicket
	t.viewMu.Lock()
	defer t.viewMu.Unlock()
	err = t.log.UpdateDerived(ctx, func(tx *sql.Tx) error {
		w, err := newTicketWriter(ctx, tx)
		if err != nil {
			return err
		}
		defer w.close()
		issued, canceled = issued[:0], canceled[:0]
		for _, rec := range fresh {
			change, err := w.apply(ctx, rec)
			if err != nil {
				return fmt.Errorf("apply event %d: %w", rec.Position, err)
			}
			switch {
			case change == nil:
			case change.canceled:
				canceled = append(canceled, *change)
			default:
				issued = append(issued, *change)
			}
		}
		return eventstore.SaveCheckpointTx(tx, TicketsCheckpoint, fresh[len(fresh)-1].Position)
	})
	if err != nil {
		return err
	}
	for _, tk := range issued {
		t.index.add(tk)
	}
	for _, tk := range canceled {
		t.index.cancel(tk)
		t.cache.forget(tk.id)
	}
	t.applied.Advance(fresh[len(fresh)-1].Position)
	if t.onApplied != nil {
		for _, rec := range fresh {
			t.onApplied(rec.OccurredAt)
		}
	}
	return nil
}

// ticketWriter holds the statements that change the table inside one transaction.
type ticketWriter struct {
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
	return &ticketWriter{insert: insert, refund: refund}, nil
}

func (w *ticketWriter) close() {
	w.insert.Close()
	w.refund.Close()
}

// apply writes rec's change to the table and returns it for the list index:
// the issued ticket, the canceled one, or nil for an event that changes no row.
func (w *ticketWriter) apply(ctx context.Context, rec eventstore.Record) (*indexedTicket, error) {
	e, err := rec.Event()
	if err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case domain.TicketIssued:
		t := domain.Evolve(domain.Ticket{}, rec.StreamID, e, rec.OccurredAt)
		_, err = w.insert.ExecContext(ctx, rec.Position, t.ID, t.TheaterName, t.UserID, t.MovieTitle, t.PriceKRW,
			string(t.Status), t.Memo, domain.FormatTime(t.IssuedAt), rec.Version)
		return &indexedTicket{position: rec.Position, theater: t.TheaterName, user: t.UserID, film: t.MovieTitle}, err
	case domain.TicketRefunded:
		change := indexedTicket{id: rec.StreamID, canceled: true}
		err := w.refund.QueryRowContext(ctx, string(domain.StatusCanceled), domain.FormatTime(rec.OccurredAt), rec.Version, rec.StreamID).
			Scan(&change.position, &change.theater, &change.user, &change.film)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("refund of %s: ticket not in the read table", rec.StreamID)
		}
		return &change, err
	}
	return nil, nil
}
