package eventstore

import (
	"context"
	"time"
)

// LeaseOptions configures the leadership lease of a store that several
// instances share.
type LeaseOptions struct {
	// Holder names the instance to operators.
	Holder string
	// Length is how long the lease lasts after each acquisition or renewal,
	// measured by the database; it also bounds how long a fenced
	// transaction may sit idle. Required.
	Length time.Duration
	// OnRefused, when set, is called each time the fence refuses a write of
	// the store. It must be fast.
	OnRefused func()
}

// Lease is one instance's handle on the leadership lease of a database that
// several instances share: one holder at a time, each acquisition a new
// term. The store that gave the lease fences its writes as leader by it:
// once a term has ended they fail with an error wrapping ErrFenced, having
// written nothing. TryAcquire, Renew and Release are called from one
// goroutine; Term and Lost are safe for concurrent use.
type Lease interface {
	// TryAcquire takes the lease if it can be taken (expired, released, or
	// its holder is gone), without waiting: true when this instance holds
	// it now, in a new term.
	TryAcquire(ctx context.Context) (bool, error)
	// Renew extends the held lease; an error means it must be taken as
	// lost.
	Renew(ctx context.Context) error
	// Lost returns a channel closed once the term held is known to be lost
	// (a write of it was refused).
	Lost() <-chan struct{}
	// Term returns the term held, 0 when none.
	Term() int64
	// Release gives the lease up at once.
	Release(ctx context.Context)
}
