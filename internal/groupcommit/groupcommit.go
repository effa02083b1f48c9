// Package groupcommit is the writer loop an event store puts in front of its
// database: one goroutine takes every queued job and commits them together.
package groupcommit

import (
	"context"
	"runtime"
	"sync"
)

// Writer is the single writer of a store: Start runs Run on a goroutine of
// its own, Submit queues a job for it, Close stops it once every queued job
// is committed. It is safe for concurrent use.
type Writer[J any] struct {
	jobs     chan J
	stop     chan struct{}
	stopOnce sync.Once
	// done is closed when the goroutine Start began returns; nil until then.
	done     chan struct{}
	maxBatch int
	stopped  error
}

// NewWriter returns a Writer, not started, that commits up to maxBatch jobs
// at a time from a queue of 4*maxBatch, and whose Submit fails with stopped
// once Close was called.
func NewWriter[J any](maxBatch int, stopped error) *Writer[J] {
	return &Writer[J]{jobs: make(chan J, 4*maxBatch), stop: make(chan struct{}), maxBatch: maxBatch, stopped: stopped}
}

// Start runs the writer, passing each batch of jobs to commit (see Run),
// until Close. Call it once, before Close; a writer never started only
// refuses jobs.
func (w *Writer[J]) Start(commit func([]J)) {
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		Run(w.jobs, w.stop, w.maxBatch, commit)
	}()
}

// Submit queues job; see Enqueue for its errors.
func (w *Writer[J]) Submit(ctx context.Context, job J) error {
	return Enqueue(ctx, w.jobs, w.stop, job, w.stopped)
}

// Close stops taking jobs and returns once every job queued is committed.
// It is safe to call more than once.
func (w *Writer[J]) Close() {
	w.stopOnce.Do(func() { close(w.stop) })
	if w.done != nil {
		<-w.done
	}
}

// Run takes the jobs queued on jobs, up to maxBatch at a time, and passes
// each batch to commit, until stop is closed; it then commits the jobs still
// queued, one per call, and returns. commit must not keep the slice.
func Run[J any](jobs <-chan J, stop <-chan struct{}, maxBatch int, commit func([]J)) {
	batch := make([]J, 0, maxBatch)
	for {
		var first J
		select {
		case first = <-jobs:
		case <-stop:
			// Jobs that got past the caller's stop check are still queued.
			for {
				select {
				case job := <-jobs:
					commit(append(batch[:0], job))
				default:
					return
				}
			}
		}
		batch = drain(jobs, append(batch[:0], first), maxBatch)
		if len(batch) == 1 {
			// A lone job: let the goroutines that are about to queue theirs
			// run first, so they share this commit instead of paying one
			// each. It costs nothing when none is runnable.
			runtime.Gosched()
			batch = drain(jobs, batch, maxBatch)
		}
		commit(batch)
	}
}

// Enqueue queues job for Run and returns nil, or returns stopped when stop is
// closed (checked first, so a writer that has begun to stop takes no new
// job) and ctx's error when ctx ends before the queue has room.
func Enqueue[J any](ctx context.Context, jobs chan<- J, stop <-chan struct{}, job J, stopped error) error {
	select {
	case <-stop:
		return stopped
	default:
	}
	select {
	case jobs <- job:
		return nil
	case <-stop:
		return stopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain adds queued jobs to batch, up to maxBatch, without waiting.
func drain[J any](jobs <-chan J, batch []J, maxBatch int) []J {
	for len(batch) < maxBatch {
		select {
		case job := <-jobs:
			batch = append(batch, job)
		default:
			return batch
		}
	}
	return batch
}
