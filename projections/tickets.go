// Package projections builds ticketd's read models from the event log and
// answers queries from them, over a storage port (TicketTable) with one
// implementation per engine: the tickets read table lives in the event log's
// database and records, in the same transaction as every change, the
// position it has applied up to.
package projections

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// TicketsCheckpoint is the checkpoint name of the tickets projector.
const TicketsCheckpoint = "projection:tickets"

// catchUpBatch is how many events one catch-up transaction applies.
const catchUpBatch = 2000

// Log is what the projectors need of the event log.
type Log interface {
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	Head() int64
}

// Tickets is the tickets read model: its projector (a Watermill handler) and
// its queries. Rows live in the tickets table; filtering, counting and paging
// use an in-memory index of it (see listIndex). It is safe for concurrent use.
type Tickets struct {
	follower
	table TicketTable

	applyMu sync.Mutex // one apply at a time: checkpoint read-modify-write

	// viewMu makes each apply (table commit and index update) atomic for
	// list queries, which read the index and then the rows.
	viewMu sync.RWMutex
	index  *listIndex
	cache  *ticketCache

	// onApplied is called with each applied event; see SetAppliedHook.
	onApplied func(rec eventstore.Record)
}

// SetAppliedHook makes the projector call fn with every event right after
// its change became visible (for lag metrics). Call it before the projector
// receives messages; fn must be fast.
func (t *Tickets) SetAppliedHook(fn func(rec eventstore.Record)) { t.onApplied = fn }

// OpenTickets loads the checkpoint and the list index of table, the read
// model of log.
func OpenTickets(ctx context.Context, log Log, table TicketTable, logger *slog.Logger) (*Tickets, error) {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Tickets{follower: follower{name: TicketsCheckpoint, log: log, logger: logger}, table: table, cache: newTicketCache()}
	t.follower.apply = t.apply
	pos, err := table.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if t.index, err = loadListIndex(ctx, table); err != nil {
		return nil, err
	}
	t.applied.Advance(pos)
	return t, nil
}

// rebuildChunk is how many log positions one rebuild transaction covers.
const rebuildChunk = 50_000

// RebuildTickets empties table, resets its checkpoint and folds the whole
// log again, a chunk of positions per transaction (see TicketTable.Rebuild:
// engines fold in SQL, many times faster than applying events one by one;
// the tests hold it to producing the same table as the projector), and
// returns how many events it folded. Meant for a stopped service (`ticketd
// replay`, `ticketd import`).
func RebuildTickets(ctx context.Context, log Log, table TicketTable, progress func(applied int64)) (int64, error) {
	if err := table.Rebuild(ctx, 0, 0); err != nil {
		return 0, fmt.Errorf("clear tickets table: %w", err)
	}
	head := log.Head()
	for from := int64(0); from < head; from += rebuildChunk {
		to := min(from+rebuildChunk, head)
		if err := table.Rebuild(ctx, from, to); err != nil {
			return from, fmt.Errorf("rebuild tickets up to position %d: %w", to, err)
		}
		if progress != nil {
			progress(to)
		}
	}
	return head, nil
}

// apply writes records (consecutive, in position order) and the checkpoint in
// one transaction; records at or below the checkpoint are skipped.
func (t *Tickets) apply(ctx context.Context, records []eventstore.Record) error {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	fresh, err := t.after(records, t.applied.Value())
	if err != nil || len(fresh) == 0 {
		return err
	}
	var issued, canceled []IndexEntry
	t.viewMu.Lock()
	defer t.viewMu.Unlock()
	err = t.table.Update(ctx, func(w TicketWriter) error {
		issued, canceled = issued[:0], canceled[:0]
		for _, rec := range fresh {
			change, err := applyEvent(w, rec)
			if err != nil {
				return fmt.Errorf("apply event %d: %w", rec.Position, err)
			}
			switch {
			case change == nil:
			case change.Canceled:
				canceled = append(canceled, *change)
			default:
				issued = append(issued, *change)
			}
		}
		return w.SaveCheckpoint(fresh[len(fresh)-1].Position)
	})
	if err != nil {
		return err
	}
	for _, tk := range issued {
		t.index.add(tk)
	}
	for _, tk := range canceled {
		t.index.cancel(tk)
		t.cache.forget(tk)
	}
	t.applied.Advance(fresh[len(fresh)-1].Position)
	if t.onApplied != nil {
		for _, rec := range fresh {
			t.onApplied(rec)
		}
	}
	return nil
}

// applyEvent writes rec's change through w and returns it for the list
// index: the issued ticket, the canceled one, or nil for an event that
// changes no row.
func applyEvent(w TicketWriter, rec eventstore.Record) (*IndexEntry, error) {
	e, err := rec.Event()
	if err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case domain.TicketIssued:
		t := domain.Evolve(domain.Ticket{}, rec.StreamID, e, rec.OccurredAt)
		t.Version = rec.Version
		entry := IndexEntry{IssuePosition: rec.Position, ID: t.ID, TheaterName: t.TheaterName, UserID: t.UserID, MovieTitle: t.MovieTitle}
		return &entry, w.Insert(rec.Position, t)
	case domain.TicketRefunded:
		entry, err := w.Cancel(rec.StreamID, rec.OccurredAt, rec.Version)
		if err != nil {
			return nil, err
		}
		entry.Canceled = true
		return &entry, nil
	}
	return nil, nil
}
