// Package groupcommit is the writer loop an event store puts in front of its
// database: one goroutine takes every queued job and commits them together.
package groupcommit

import (
	"context"
	"runtime"
)

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
