package projections

import (
	"context"
	"iter"

	"github.com/ticketd/ticketd/eventstore"
)

// logChunks yields the events of log after position after, up to position
// until, in chunks of up to size events in position order, keeping only
// the given types when any are given. It reads the next chunk while the
// caller works on the one yielded, so a pass over the log costs about the
// longer of reading and folding rather than their sum. It ends after
// yielding a read error, or when the log holds no more events before
// until: callers that need every event up to until check where they got.
func logChunks(ctx context.Context, log Log, after, until int64, size int, types ...string) iter.Seq2[[]eventstore.Record, error] {
	return func(yield func([]eventstore.Record, error) bool) {
		type chunk struct {
			records []eventstore.Record
			err     error
		}
		ctx, cancel := context.WithCancel(ctx)
		ahead := make(chan chunk)
		go func() {
			defer close(ahead)
			for pos := after; pos < until; {
				records, err := log.ReadAll(ctx, pos, int(min(until-pos, int64(size))), types...)
				if err == nil && len(records) == 0 {
					return
				}
				select {
				case ahead <- chunk{records, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
				pos = records[len(records)-1].Position
			}
		}()
		defer func() {
			cancel()
			for range ahead { // the reader has stopped once ahead is closed
			}
		}()
		for c := range ahead {
			if !yield(c.records, c.err) || c.err != nil {
				return
			}
		}
	}
}
