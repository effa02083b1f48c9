package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// model is a read model as the registry opens it: its fold, and its
// projector once open starts it.
type model interface {
	ReadModel
	open(ctx context.Context, storage Storage, log Log, logger *slog.Logger) (*Projector, error)
	projector() *Projector
}

func (t *Tickets) projector() *Projector  { return t.Projector }
func (s *Sales) projector() *Projector    { return s.Projector }
func (s *Showings) projector() *Projector { return s.Projector }

// Set is the read models of one database, open: the registry of ticketd's
// read models. A read model is added here, and nowhere else but in its own
// file and the HTTP handlers that serve its queries.
type Set struct {
	Tickets  *Tickets
	Sales    *Sales
	Showings *Showings
}

// newSet returns the read models over log, not open.
func newSet(log Log) *Set {
	return &Set{Tickets: newTickets(), Sales: newSales(log), Showings: newShowings(log)}
}

// models lists the read models of s, in the order they are opened and
// caught up.
func (s *Set) models() []model { return []model{s.Tickets, s.Sales, s.Showings} }

// Models returns ticketd's read models over log, not open, for passes over
// the log that need no projector (Rebuild, Audit).
func Models(log Log) []ReadModel {
	var out []ReadModel
	for _, m := range newSet(log).models() {
		out = append(out, m)
	}
	return out
}

// Consistent returns the projector commands wait for before they answer
// (read-your-writes, Ticketd-Consistency) and whose lag gates readiness and
// is measured from each commit: the tickets model's.
func (s *Set) Consistent() *Projector { return s.Tickets.Projector }

// RefundRead tells the models that a refund's decision read ticket t,
// issued at issuePosition (see app.Commands.OnRefundRead), so that applying
// the refund reads no stream and looks up no row.
func (s *Set) RefundRead(t domain.Ticket, issuePosition int64) {
	s.Sales.Remember(t)
	s.Tickets.Remember(t, issuePosition)
}

// Projectors returns the projectors of the read models of s, in order.
func (s *Set) Projectors() []*Projector {
	var out []*Projector
	for _, m := range s.models() {
		out = append(out, m.projector())
	}
	return out
}

// Open opens every read model of log over storage: it prepares its tables
// (see Tables.Prepare), starts its projector at the stored checkpoint, and
// marks it Rebuilding when the stored rows were of another version and the
// log holds events (the projector's catch-up then folds the whole log, see
// Projector.CatchUp, and the model serves its queries after it). On a
// database that takes no writes the stored rows serve as they are, unless
// they are of another version.
func Open(ctx context.Context, log Log, storage Storage, logger *slog.Logger) (*Set, error) {
	if logger == nil {
		logger = slog.Default()
	}
	set := newSet(log)
	for _, m := range set.models() {
		if _, err := openModel(ctx, m, m.open, storage, log, logger); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// OpenProjector prepares the tables of m in storage (see Tables.Prepare)
// and returns its projector at the stored checkpoint, Rebuilding when the
// stored rows were of another version and the log holds events (its
// catch-up then folds the whole log, see Projector.CatchUp). On a database
// that takes no writes the stored rows serve as they are, unless they are
// of another version. Any read model opens this way; ticketd's own open
// through Open.
func OpenProjector(ctx context.Context, m ReadModel, storage Storage, log Log, logger *slog.Logger) (*Projector, error) {
	return openModel(ctx, m, func(ctx context.Context, storage Storage, log Log, logger *slog.Logger) (*Projector, error) {
		return newProjector(ctx, m, storage, log, logger)
	}, storage, log, logger)
}

// openModel prepares the tables of m in storage, then calls open, which
// starts its projector, and marks it Rebuilding when it must be.
func openModel(ctx context.Context, m ReadModel, open func(context.Context, Storage, Log, *slog.Logger) (*Projector, error), storage Storage, log Log, logger *slog.Logger) (*Projector, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := m.Schema()
	tables := storage.Tables(s)
	stored, err := tables.Prepare(ctx)
	if errors.Is(err, eventstore.ErrReadOnly) || domain.ErrorCode(err) == domain.CodeUnavailable {
		if stored, err = tables.Version(ctx); stored == 0 {
			stored = s.Version // no tables: nothing to serve but nothing stale either
		}
	}
	if err != nil {
		return nil, err
	}
	p, err := open(ctx, storage, log, logger)
	if err != nil {
		return nil, fmt.Errorf("open read model %s: %w", s.Name, err)
	}
	if head := log.Head(); stored != s.Version && head > 0 {
		p.rebuildTo = head
		p.rebuilding.Store(true)
		if stored != 0 {
			logger.Info(s.Name+": its version changed: it is rebuilt from the log before it serves its queries",
				"stored_version", stored, "version", s.Version, "log_head", head)
		}
	}
	return p, nil
}

// Short returns a model's name without its "projection:" prefix, as log
// lines and progress phases show it.
func Short(name string) string { return strings.TrimPrefix(name, "projection:") }

// everyType is the set of the types of records.
func everyType(records []eventstore.Record) map[string]bool {
	types := map[string]bool{}
	for _, rec := range records {
		types[rec.Type] = true
	}
	return types
}

// rebuildChunk is how many events one rebuild transaction covers.
const rebuildChunk = 2_000

// Rebuild empties the tables of every read model of log, resets their
// checkpoints and folds the whole log again into them in one pass, a chunk
// of events per transaction of each model, and returns how many events it
// folded. progress, when set, gets the position every model has reached,
// from one goroutine at a time. Meant for a stopped service (`ticketd
// replay`, `ticketd import`, `ticketd seed`).
//
// The log is read ahead and decoded once; each model folds and writes the
// chunks in a goroutine of its own, taking the next chunk once done with
// the one before, so the folds run side by side and one model's writes
// overlap another's fold, while no more than three chunks are held.
func Rebuild(ctx context.Context, log Log, storage Storage, progress func(pos int64)) (int64, error) {
	models := Models(log)
	passes := make([]*rebuildPass, len(models))
	for i, m := range models {
		tables := storage.Tables(m.Schema())
		if _, err := tables.Prepare(ctx); err != nil {
			return 0, err
		}
		prev, err := tables.Checkpoint(ctx)
		if err != nil {
			return 0, err
		}
		if err := tables.Reset(ctx, prev); err != nil {
			return 0, fmt.Errorf("clear %s: %w", m.Schema().Name, err)
		}
		passes[i] = &rebuildPass{name: m.Schema().Name, tables: tables, folder: m.Folder(true), types: map[string]bool{},
			chunks: make(chan rebuildChunkOf)}
		for _, t := range m.EventTypes() {
			passes[i].types[t] = true
		}
	}
	head := log.Head()
	reached := &rebuildProgress{passes: passes, report: progress}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range passes {
		g.Go(func() error { return p.run(gctx, reached) })
	}
	g.Go(func() error {
		defer func() {
			for _, p := range passes {
				close(p.chunks)
			}
		}()
		for records, err := range logChunks(gctx, log, 0, head, rebuildChunk) {
			if err != nil {
				return err
			}
			events, err := decode(records, everyType(records))
			if err != nil {
				return err
			}
			chunk := rebuildChunkOf{events: events, to: records[len(records)-1].Position}
			for _, p := range passes {
				select {
				case p.chunks <- chunk:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	err := g.Wait()
	folded := reached.min()
	if err != nil {
		return folded, err
	}
	if folded < head {
		return folded, fmt.Errorf("log has no events after %d though its head is %d", folded, head)
	}
	return head, nil
}

// rebuildChunkOf is a chunk of the log as Rebuild hands it to each model:
// its events decoded, shared read-only, and its last position.
type rebuildChunkOf struct {
	events []Event
	to     int64
}

// rebuildPass is one model's part of a Rebuild.
type rebuildPass struct {
	name   string
	tables Tables
	folder Folder
	types  map[string]bool
	chunks chan rebuildChunkOf
	// pos is the position written, read by rebuildProgress.
	pos atomic.Int64
}

// run folds and writes each chunk in turn until chunks closes.
func (p *rebuildPass) run(ctx context.Context, reached *rebuildProgress) error {
	for chunk := range p.chunks {
		relevant := make([]Event, 0, len(chunk.events))
		for _, e := range chunk.events {
			if p.types[e.Type] {
				relevant = append(relevant, e)
			}
		}
		changes, err := p.folder.Fold(ctx, p.tables, relevant)
		if err == nil {
			err = p.tables.Apply(ctx, p.pos.Load(), chunk.to, changes)
		}
		if err != nil {
			return fmt.Errorf("rebuild %s up to position %d: %w", p.name, chunk.to, err)
		}
		p.pos.Store(chunk.to)
		reached.advanced()
	}
	return nil
}

// rebuildProgress reports the position every pass of a Rebuild has written.
type rebuildProgress struct {
	passes []*rebuildPass
	report func(pos int64)
	mu     sync.Mutex
	told   int64
}

// min returns the position every pass has written.
func (r *rebuildProgress) min() int64 {
	low := r.passes[0].pos.Load()
	for _, p := range r.passes[1:] {
		low = min(low, p.pos.Load())
	}
	return low
}

// advanced reports the position every pass has written when it moved.
func (r *rebuildProgress) advanced() {
	if r.report == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if low := r.min(); low > r.told {
		r.told = low
		r.report(low)
	}
}
