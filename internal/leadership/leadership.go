// Package leadership elects, among the instances of a cluster, the one that
// runs the work only one may do at a time (ticketd's projectors and
// relays), over a lock of the shared database.
package leadership

import (
	"context"
	"log/slog"
	"time"
)

// Lock is one instance's handle on the leadership lock. Its methods are
// called from one goroutine.
type Lock interface {
	// TryAcquire takes the lock if it is free, without waiting: true when
	// this instance holds it now.
	TryAcquire(ctx context.Context) (bool, error)
	// Check returns nil while the lock is still held; an error means it
	// is lost.
	Check(ctx context.Context) error
	// Release gives the lock up.
	Release(ctx context.Context)
}

// Config configures Run.
type Config struct {
	// Lock is the leadership lock; nil makes this instance the only one,
	// leader from the start until the end.
	Lock Lock
	// Poll is how often a follower tries the lock, and how often the
	// leader checks that it still holds it (each check may take up to
	// Poll, and at least minCheckTimeout).
	Poll time.Duration
	// Instance names this instance in log lines.
	Instance string
	Logger   *slog.Logger
	// OnChange, when set, is called with true when this instance becomes
	// leader and with false when it stops being leader, before lead's
	// context ends. It must be fast.
	OnChange func(leading bool)
}

// releaseTimeout bounds the release of the lock when leading ends.
const releaseTimeout = 5 * time.Second

// minCheckTimeout is the least time the leader's check of its lock gets, so
// that a short Poll on a loaded machine does not turn a slow answer into a
// lost leadership.
const minCheckTimeout = time.Second

// Run takes part in the election until ctx ends. While this instance leads
// it runs lead, with a context that ends as soon as leadership is lost
// (the lock's check fails) or ctx ends; otherwise it runs follow, with a
// context that ends when this instance takes the lock. Either must return
// once its context ends; a lead that returns on its own gives leadership
// up. Run returns when ctx has ended, the last lead or follow has returned
// and the lock is released.
func Run(ctx context.Context, cfg Config, lead, follow func(context.Context)) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lock == nil {
		cfg.changed(true)
		lead(ctx)
		cfg.changed(false)
		return
	}
	for ctx.Err() == nil {
		if !cfg.campaign(ctx, follow) {
			return
		}
		cfg.Logger.Info("projector leadership acquired", "instance", cfg.Instance)
		cfg.changed(true)
		cfg.hold(ctx, lead)
	}
}

func (cfg Config) changed(leading bool) {
	if cfg.OnChange != nil {
		cfg.OnChange(leading)
	}
}

// campaign runs follow while it tries the lock every Poll, and returns
// true once this instance holds it, false when ctx ended first; follow has
// returned either way.
func (cfg Config) campaign(ctx context.Context, follow func(context.Context)) bool {
	fctx, stop := context.WithCancel(ctx)
	done := run(fctx, follow)
	defer func() { stop(); <-done }()
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	failing := false
	for {
		taken, err := cfg.Lock.TryAcquire(ctx)
		switch {
		case taken:
			return true
		case err != nil && ctx.Err() == nil && !failing:
			cfg.Logger.Warn("leadership lock cannot be tried; retrying", "instance", cfg.Instance, "error", err)
		}
		failing = err != nil
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// hold runs lead while it checks every Poll that the lock is still held,
// and returns once leading ended, lead has returned and the lock is
// released.
func (cfg Config) hold(ctx context.Context, lead func(context.Context)) {
	lctx, stop := context.WithCancel(ctx)
	done := run(lctx, lead)
	var reason string
	defer func() {
		cfg.changed(false)
		cfg.Logger.Info("projector leadership lost", "instance", cfg.Instance, "reason", reason)
		stop()
		<-done
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		cfg.Lock.Release(release)
	}()
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			reason = "stopping"
			return
		case <-done:
			reason = "leader's work ended"
			return
		case <-tick.C:
			check, cancel := context.WithTimeout(ctx, max(cfg.Poll, minCheckTimeout))
			err := cfg.Lock.Check(check)
			cancel()
			if err != nil && ctx.Err() == nil {
				reason = "lock lost: " + err.Error()
				return
			}
		}
	}
}

// run calls fn(ctx) in a goroutine and returns a channel closed when it returns.
func run(ctx context.Context, fn func(context.Context)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return done
}
