package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/watermark"
)

// ErrCheckpointMoved is what a checkpoint write returns when the stored
// checkpoint is no longer the one the writer started from (see
// eventstore.ErrCheckpointMoved, which it is).
var ErrCheckpointMoved = eventstore.ErrCheckpointMoved

// catchUpBatch is how many events one catch-up transaction applies.
const catchUpBatch = 2000

// Log is what the projectors need of the event log.
type Log interface {
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	ReadStreams(ctx context.Context, streamIDs []string) ([]eventstore.Record, error)
	Head() int64
}

// observer is a read model that keeps part of its rows in memory: Observe
// is called with every batch of changes once committed, by the projector
// that wrote them or by one that follows the tables (see Refresh), while
// the projector holds its view lock for writing.
type observer interface {
	Observe(changes []Change)
}

// Projector keeps one read model's tables at the log: it folds the events
// after its checkpoint and writes their row changes with the checkpoint in
// one transaction, from Watermill messages (Handle) or from the log itself
// (CatchUp), and answers where the model stands. It is safe for concurrent
// use.
type Projector struct {
	model   ReadModel
	schema  Schema
	types   map[string]bool
	tables  Tables
	log     Log
	logger  *slog.Logger
	applied watermark.Watermark
	folder  Folder
	// observer is the model when it keeps rows in memory, else nil.
	observer observer

	applyMu sync.Mutex // one apply at a time: checkpoint read-modify-write
	// view makes each apply (commit and Observe) atomic for the model's
	// queries that read memory and then the tables: they hold it for
	// reading.
	view sync.RWMutex
	// rebuilding is set while the tables are folded from the log after a
	// change of the model's version, up to rebuildTo (the head when the
	// model was opened); its queries are not served meanwhile.
	rebuilding atomic.Bool
	rebuildTo  int64

	onApplied func(rec eventstore.Record)
}

// newProjector returns the projector of model over its tables in storage,
// at the stored checkpoint.
func newProjector(ctx context.Context, model ReadModel, storage Storage, log Log, logger *slog.Logger) (*Projector, error) {
	s := model.Schema()
	p := &Projector{model: model, schema: s, types: map[string]bool{}, tables: storage.Tables(s), log: log, logger: logger, folder: model.Folder(false)}
	for _, t := range model.EventTypes() {
		p.types[t] = true
	}
	p.observer, _ = model.(observer)
	pos, err := p.tables.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	p.applied.Advance(pos)
	return p, nil
}

// Name returns the model's name, its checkpoint's.
func (p *Projector) Name() string { return p.schema.Name }

// SetAppliedHook makes the projector call fn with every event right after
// its change became visible (for lag metrics). Call it before the projector
// receives messages; fn must be fast.
func (p *Projector) SetAppliedHook(fn func(rec eventstore.Record)) { p.onApplied = fn }

// Position returns the position of the last event applied to the read model.
func (p *Projector) Position() int64 { return p.applied.Value() }

// WaitFor blocks until the read model reflects every event up to pos, or ctx
// ends (returning ctx.Err()).
func (p *Projector) WaitFor(ctx context.Context, pos int64) error {
	return p.applied.WaitFor(ctx, pos)
}

// Rebuilding reports whether the model's tables are being folded from the
// log after a change of its version: its queries are not served until done.
func (p *Projector) Rebuilding() bool { return p.rebuilding.Load() }

// serving returns nil while the model serves its queries, else a
// CodeUnavailable error saying it is being rebuilt.
func (p *Projector) serving() error {
	if p.rebuilding.Load() {
		return domain.Errorf(domain.CodeUnavailable, "The read model %s is being rebuilt from the event log (its version changed): it is at position %d of %d. Retry later.",
			p.schema.Name, p.Position(), p.log.Head())
	}
	return nil
}

// apply writes the changes of records (consecutive, in position order,
// possibly starting at or below the checkpoint) and the checkpoint in one
// transaction and advances applied; it fails with ErrCheckpointMoved when
// the stored checkpoint is not applied.
func (p *Projector) apply(ctx context.Context, records []eventstore.Record) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	fresh, err := p.after(records, p.applied.Value())
	if err != nil || len(fresh) == 0 {
		return err
	}
	events, err := decode(fresh, p.types)
	if err != nil {
		return fmt.Errorf("%s: %w", p.schema.Name, err)
	}
	changes, err := p.folder.Fold(ctx, p.tables, events)
	if err != nil {
		return fmt.Errorf("%s: %w", p.schema.Name, err)
	}
	prev, last := p.applied.Value(), fresh[len(fresh)-1].Position
	if p.observer != nil {
		p.view.Lock()
		defer p.view.Unlock()
	}
	if err := p.tables.Apply(ctx, prev, last, changes); err != nil {
		return err
	}
	if p.observer != nil {
		p.observer.Observe(changes)
	}
	p.applied.Advance(last)
	if p.onApplied != nil {
		for _, rec := range fresh {
			p.onApplied(rec)
		}
	}
	return nil
}

// Refresh brings the read model up to the checkpoint of its tables, which
// another instance's projector moved, without writing them; Position is
// then at least that checkpoint. A model that keeps rows in memory folds
// the events in between again to observe their changes. It fails when the
// tables or the log cannot be read.
func (p *Projector) Refresh(ctx context.Context) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	checkpoint, err := p.tables.Checkpoint(ctx)
	if err != nil {
		return err
	}
	defer p.rebuilt()
	if p.observer == nil {
		p.applied.Advance(checkpoint)
		return nil
	}
	for records, err := range logChunks(ctx, p.log, p.applied.Value(), checkpoint, catchUpBatch) {
		if err != nil {
			return err
		}
		if records, err = p.after(records, p.applied.Value()); err != nil {
			return err
		}
		events, err := decode(records, p.types)
		if err != nil {
			return fmt.Errorf("%s: %w", p.schema.Name, err)
		}
		changes, err := p.model.Folder(false).Fold(ctx, p.tables, events)
		if err != nil {
			return fmt.Errorf("%s: %w", p.schema.Name, err)
		}
		p.view.Lock()
		p.observer.Observe(changes)
		p.view.Unlock()
		p.applied.Advance(records[len(records)-1].Position)
	}
	if pos := p.applied.Value(); pos < checkpoint {
		return fmt.Errorf("%s: log has no events after %d though the tables' checkpoint is %d", p.schema.Name, pos, checkpoint)
	}
	return nil
}

// Follow keeps the read model at its tables' checkpoint, for an instance
// whose projector does not write them: it refreshes at once, whenever
// changed's channel closes (a notification that the tables moved), and at
// least every poll in case a notification was lost, until ctx ends. A
// failed refresh is logged and retried at the next wake-up.
func (p *Projector) Follow(ctx context.Context, changed func() <-chan struct{}, poll time.Duration) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		wake := changed()
		if err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn(p.schema.Name+": refresh from the shared tables failed", "position", p.Position(), "error", err)
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// applyOrRefresh applies records; when another writer moved the tables'
// checkpoint meanwhile, it refreshes from the tables and applies what is
// still missing.
func (p *Projector) applyOrRefresh(ctx context.Context, records []eventstore.Record) error {
	err := p.apply(ctx, records)
	if !errors.Is(err, ErrCheckpointMoved) {
		return err
	}
	p.logger.Info(p.schema.Name+": checkpoint moved by another writer; refreshing from the tables", "position", p.Position())
	if err := p.Refresh(ctx); err != nil {
		return err
	}
	return p.apply(ctx, records)
}

// CatchUp applies every event committed after the checkpoint, up to the log
// head at the time of the call, and returns how many it applied. A model
// that was Rebuilding serves its queries once it has caught up.
func (p *Projector) CatchUp(ctx context.Context, progress func(applied int64)) (int64, error) {
	before := p.Position()
	err := p.catchUpTo(ctx, p.log.Head(), progress)
	p.rebuilt()
	return p.Position() - before, err
}

// rebuilt ends Rebuilding once the model reflects the log as it was when
// opened.
func (p *Projector) rebuilt() {
	if p.rebuilding.Load() && p.Position() >= p.rebuildTo {
		p.rebuilding.Store(false)
	}
}

// Handle is the projector's Watermill handler, for the batch messages of a
// batched relay (eventstore.NewBatchMessage): it applies the events the
// message carries in one transaction, after those at or below the
// checkpoint (redelivery is harmless). The log is read only for what no
// message brought: when the message starts after the next event to apply,
// or cannot be decoded, the events up to it are applied from the log.
//
// The message's context is ended when the router closes, but an apply that
// has begun is never cut short by it: cancelling a SQLite transaction
// interrupts its statements, and an interrupt that lands on the COMMIT can
// report failure for a transaction that committed, after which the applied
// position and the stored checkpoint disagree and the next apply counts the
// same events again.
func (p *Projector) Handle(msg *message.Message) error {
	ctx := context.WithoutCancel(msg.Context())
	records, err := eventstore.RecordsFromBatchMessage(msg)
	if err != nil || len(records) == 0 {
		last, perr := strconv.ParseInt(msg.Metadata.Get(eventstore.MessagePosition), 10, 64)
		if perr != nil {
			p.logger.Error(p.schema.Name+": dropping a message that carries no events and no position", "message_uuid", msg.UUID, "error", errors.Join(err, perr))
			return nil
		}
		p.logger.Warn(p.schema.Name+": undecodable message; reading its events from the log", "message_uuid", msg.UUID, "position", last, "error", err)
		return p.catchUpTo(ctx, last, nil)
	}
	if first := records[0].Position; first > p.Position()+1 {
		if err := p.catchUpTo(ctx, first-1, nil); err != nil {
			return err
		}
	}
	return p.applyOrRefresh(ctx, records)
}

// catchUpTo applies events from the log until the read model reflects
// position until, in transactions of up to catchUpBatch events. progress,
// when set, gets the running count.
func (p *Projector) catchUpTo(ctx context.Context, until int64, progress func(applied int64)) error {
	var total int64
	for records, err := range logChunks(ctx, p.log, p.Position(), until, catchUpBatch) {
		if err != nil {
			return err
		}
		if err := p.applyOrRefresh(ctx, records); err != nil {
			return err
		}
		total += int64(len(records))
		if progress != nil {
			progress(total)
		}
	}
	if pos := p.Position(); pos < until {
		return fmt.Errorf("%s: log has no events after %d though its head is at least %d", p.schema.Name, pos, until)
	}
	return nil
}

// after returns the records after position pos, failing unless they follow
// it without a gap.
func (p *Projector) after(records []eventstore.Record, pos int64) ([]eventstore.Record, error) {
	i := 0
	for i < len(records) && records[i].Position <= pos {
		i++
	}
	fresh := records[i:]
	for j, rec := range fresh {
		if rec.Position != pos+int64(j)+1 {
			return nil, fmt.Errorf("%s: event %d does not follow %d", p.schema.Name, rec.Position, pos+int64(j))
		}
	}
	return fresh, nil
}
