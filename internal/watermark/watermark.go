// Package watermark tracks a monotonically increasing position (a log head, a
// consumer checkpoint) that goroutines can wait on.
package watermark

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Watermark is a position that only moves forward. The zero value is at 0 and
// ready to use; it is safe for concurrent use.
type Watermark struct {
	mu      sync.Mutex
	value   int64
	changed chan struct{}
	// moves are the latest advances, oldest first, while remember > 0:
	// between remember and 2*remember of them.
	moves    []move
	remember int
}

// move is one Advance: from the position before it to to, at a time.
type move struct {
	from, to int64
	at       time.Time
}

// Remember makes the watermark keep the time of at least its last n
// advances, for ReachedAt.
func (w *Watermark) Remember(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.remember = n
}

// ReachedAt returns when the position first reached v, or found=false when
// it has not, when Remember is off, or when that advance is older than those
// remembered.
func (w *Watermark) ReachedAt(v int64) (at time.Time, found bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := sort.Search(len(w.moves), func(i int) bool { return w.moves[i].to >= v })
	if i == len(w.moves) || w.moves[i].from >= v {
		return time.Time{}, false
	}
	return w.moves[i].at, true
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
	if w.remember > 0 {
		if len(w.moves) >= 2*w.remember {
			w.moves = append(w.moves[:0], w.moves[len(w.moves)-w.remember:]...)
		}
		w.moves = append(w.moves, move{from: w.value, to: v, at: time.Now()})
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
