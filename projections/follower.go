package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/watermark"
)

// follower feeds one read model from the log: it keeps the position the
// model has applied up to and hands it the events after it, from Watermill
// messages or from the log itself. The model's apply must write the events
// and the checkpoint in one transaction, then advance applied.
type follower struct {
	name    string // the checkpoint name, also in log lines
	log     Log
	logger  *slog.Logger
	applied watermark.Watermark
	// apply writes records (consecutive, in position order, possibly
	// starting at or below the checkpoint) and advances applied; it fails
	// with ErrCheckpointMoved when the table's checkpoint is not applied.
	apply func(ctx context.Context, records []eventstore.Record) error
	// refresh advances applied to the table's checkpoint, bringing what
	// the model keeps in memory along, without writing the table.
	refresh func(ctx context.Context) error
}

// Refresh brings the read model up to the checkpoint of its table, which
// another instance's projector moved, without writing the table; Position
// is then at least that checkpoint. It fails when the table or the log
// cannot be read.
func (f *follower) Refresh(ctx context.Context) error { return f.refresh(ctx) }

// Follow keeps the read model at its table's checkpoint, for an instance
// whose projector does not write the table: it refreshes at once, whenever
// changed's channel closes (a notification that the table moved), and at
// least every poll in case a notification was lost, until ctx ends. A
// failed refresh is logged and retried at the next wake-up.
func (f *follower) Follow(ctx context.Context, changed func() <-chan struct{}, poll time.Duration) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		wake := changed()
		if err := f.refresh(ctx); err != nil && ctx.Err() == nil {
			f.logger.Warn(f.name+": refresh from the shared table failed", "position", f.Position(), "error", err)
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// applyOrRefresh applies records; when another writer moved the table's
// checkpoint meanwhile, it refreshes from the table and applies what is
// still missing.
func (f *follower) applyOrRefresh(ctx context.Context, records []eventstore.Record) error {
	err := f.apply(ctx, records)
	if !errors.Is(err, ErrCheckpointMoved) {
		return err
	}
	f.logger.Info(f.name+": checkpoint moved by another writer; refreshing from the table", "position", f.Position())
	if err := f.refresh(ctx); err != nil {
		return err
	}
	return f.apply(ctx, records)
}

// Position returns the position of the last event applied to the read model.
func (f *follower) Position() int64 { return f.applied.Value() }

// WaitFor blocks until the read model reflects every event up to pos, or ctx
// ends (returning ctx.Err()).
func (f *follower) WaitFor(ctx context.Context, pos int64) error {
	return f.applied.WaitFor(ctx, pos)
}

// CatchUp applies every event committed after the checkpoint, up to the log
// head at the time of the call, and returns how many it applied.
func (f *follower) CatchUp(ctx context.Context, progress func(applied int64)) (int64, error) {
	before := f.Position()
	err := f.catchUpTo(ctx, f.log.Head(), progress)
	return f.Position() - before, err
}

// Handle is the projector's Watermill handler. A message at or below the
// checkpoint is acknowledged and ignored (redelivery is harmless). The next
// event is applied from the message's payload; when more events are already
// committed (the projector is behind, or a gap opened), everything up to the
// log head is applied from the log in large transactions instead, so the
// messages that follow are no-ops.
//
// The message's context is ended when the router closes, but an apply that
// has begun is never cut short by it: cancelling a SQLite transaction
// interrupts its statements, and an interrupt that lands on the COMMIT can
// report failure for a transaction that committed, after which the applied
// position and the stored checkpoint disagree and the next apply counts the
// same events again.
func (f *follower) Handle(msg *message.Message) error {
	ctx := context.WithoutCancel(msg.Context())
	pos, err := strconv.ParseInt(msg.Metadata.Get(eventstore.MessagePosition), 10, 64)
	if err != nil {
		f.logger.Error(f.name+": dropping message without a position", "message_uuid", msg.UUID, "error", err)
		return nil
	}
	applied := f.Position()
	switch head := f.log.Head(); {
	case pos <= applied:
		return nil
	case pos == applied+1 && head <= pos:
		rec, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			f.logger.Error(f.name+": dropping undecodable message", "message_uuid", msg.UUID, "error", err)
			return nil
		}
		return f.applyOrRefresh(ctx, []eventstore.Record{rec})
	default:
		return f.catchUpTo(ctx, max(head, pos), nil)
	}
}

// catchUpTo applies events from the log until the read model reflects
// position until, in transactions of up to catchUpBatch events. progress,
// when set, gets the running count.
func (f *follower) catchUpTo(ctx context.Context, until int64, progress func(applied int64)) error {
	var total int64
	for f.Position() < until {
		n, err := f.applyFromLog(ctx, until)
		if err != nil {
			return err
		}
		total += n
		if progress != nil {
			progress(total)
		}
	}
	return nil
}

// applyFromLog applies one batch of events after the checkpoint, up to until.
func (f *follower) applyFromLog(ctx context.Context, until int64) (int64, error) {
	pos := f.Position()
	records, err := f.log.ReadAll(ctx, pos, int(min(until-pos, catchUpBatch)))
	if err != nil {
		return 0, err
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("%s: log has no events after %d though its head is at least %d", f.name, pos, until)
	}
	return int64(len(records)), f.applyOrRefresh(ctx, records)
}

// after returns the records after position pos, failing unless they follow
// it without a gap.
func (f *follower) after(records []eventstore.Record, pos int64) ([]eventstore.Record, error) {
	i := 0
	for i < len(records) && records[i].Position <= pos {
		i++
	}
	fresh := records[i:]
	for j, rec := range fresh {
		if rec.Position != pos+int64(j)+1 {
			return nil, fmt.Errorf("%s: event %d does not follow %d", f.name, rec.Position, pos+int64(j))
		}
	}
	return fresh, nil
}
