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
	t.follower.apply, t.follower.refresh = t.apply, t.refresh
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
	prev, last := t.applied.Value(), fresh[len(fresh)-1].Position
	err = t.table.Update(ctx, func(w TicketWriter) error {
		issued, canceled = issued[:0], canceled[:0]
		if err := w.SaveCheckpoint(prev, last); err != nil {
			return err
		}
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
		return nil
	})
	if err != nil {
		return err
	}
	t.follow(issued, canceled)
	t.applied.Advance(last)
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

// follow records in the list index tickets issued and canceled in the
// table, and drops the canceled ones from the cache. The caller holds
// viewMu for writing.
func (t *Tickets) follow(issued, canceled []IndexEntry) {
	for _, tk := range issued {
		t.index.add(tk)
	}
	for _, tk := range canceled {
		t.index.cancel(tk)
		t.cache.forget(tk)
	}
}

// refresh brings the list index and the ticket cache up to the table's
// checkpoint, which another writer (the projector leader) moved, without
// writing the table: it reads the events after the applied position from
// the log, takes the canceled tickets' index entries from the table, and
// then advances the applied position to the checkpoint.
func (t *Tickets) refresh(ctx context.Context) error {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	checkpoint, err := t.table.Checkpoint(ctx)
	if err != nil {
		return err
	}
	for pos := t.applied.Value(); pos < checkpoint; pos = t.applied.Value() {
		records, err := t.log.ReadAll(ctx, pos, int(min(checkpoint-pos, catchUpBatch)))
		if err != nil {
			return err
		}
		if records, err = t.after(records, pos); err != nil {
			return err
		}
		if len(records) == 0 {
			return fmt.Errorf("%s: log has no events after %d though the table's checkpoint is %d", t.name, pos, checkpoint)
		}
		issued, canceled, err := t.changes(ctx, records)
		if err != nil {
			return err
		}
		t.viewMu.Lock()
		t.follow(issued, canceled)
		t.viewMu.Unlock()
		t.applied.Advance(records[len(records)-1].Position)
	}
	return nil
}

// changes returns the index entries of the tickets records issue and of
// those they cancel, the latter read from the table.
func (t *Tickets) changes(ctx context.Context, records []eventstore.Record) (issued, canceled []IndexEntry, err error) {
	var refunded []string
	for _, rec := range records {
		e, err := rec.Event()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: event %d: %w", t.name, rec.Position, err)
		}
		switch e := e.(type) {
		case domain.TicketIssued:
			issued = append(issued, IndexEntry{IssuePosition: rec.Position, ID: rec.StreamID, TheaterName: e.TheaterName, UserID: e.UserID, MovieTitle: e.MovieTitle})
		case domain.TicketRefunded:
			refunded = append(refunded, rec.StreamID)
		}
	}
	if len(refunded) == 0 {
		return issued, nil, nil
	}
	entries, err := t.table.Entries(ctx, refunded)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range refunded {
		entry, ok := entries[id]
		if !ok {
			return nil, nil, fmt.Errorf("%s: refund of %s: ticket not in the read table", t.name, id)
		}
		entry.Canceled = true
		canceled = append(canceled, entry)
	}
	return issued, canceled, nil
}
