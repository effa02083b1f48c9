// Package watermark tracks a monotonically increasing position (a log head, a
// consumer checkpoint) that goroutines can wait on.
package watermark

import (
	"context"
	"sync"
)

// Watermark is a position that only moves forward. The zero value is at 0 and
// ready to use; it is safe for concurrent use.
type Watermark struct {
	mu      sync.Mutex
	value   int64
	changed chan struct{}
}

// Value returns the current position.
func (w *Watermark) Value() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.value
}

// Advance moves the position to v and wakes every waiter. A v at or below the
// current position is ignored.
func (w *Watermark) Advance(v int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v <= w.value {
		return
	}
	w.value = v
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}

// Changed returns the current position and a channel closed on the next Advance.
func (w *Watermark) Changed() (int64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.value, w.changed
}

// WaitFor blocks until the position is at least v. It returns ctx.Err() when
// ctx ends first.
func (w *Watermark) WaitFor(ctx context.Context, v int64) error {
	return WaitUntil(ctx, v, w.Changed)
}

// WaitUntil blocks until changed, which returns a position and a channel
// closed when it next moves (as Watermark.Changed does), reports a position of
// at least v. It returns ctx.Err() when ctx ends first.
func WaitUntil(ctx context.Context, v int64, changed func() (int64, <-chan struct{})) error {
	for {
		current, next := changed()
		if current >= v {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
