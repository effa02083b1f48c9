// Package leadership elects, among the instances of a cluster, the one that
// runs the work only one may do at a time (ticketd's projectors and
// relays), over a lease of the shared database: its holder renews it, and
// another instance takes it over once it expired. Each leadership is a term
// of the lease; the store refuses the writes of a term that ended (see
// postgres.LeaderLease), so a leader that was paused past its lease writes
// nothing when it wakes up, and steps down.
package leadership

import (
	"context"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// Config configures Run.
type Config struct {
	// Lease is the leadership lease; nil makes this instance the only one,
	// leader from the start until the end.
	Lease eventstore.Lease
	// Poll is how often a follower tries the lease, and the longest the
	// leader waits between renewals.
	Poll time.Duration
	// Length is the lease's length: the leader renews it at least three
	// times per Length, and a renewal may take the longer of its interval
	// and minRenewTimeout, but never more than Length. Zero renews every
	// Poll.
	Length time.Duration
	// Instance names this instance in log lines.
	Instance string
	Logger   *slog.Logger
	// OnChange, when set, is called with true when this instance becomes
	// leader and with false when it stops being leader, before lead's
	// context ends. It must be fast.
	OnChange func(leading bool)
}

// releaseTimeout bounds the release of the lease when leading ends.
const releaseTimeout = 5 * time.Second

// minRenewTimeout is the least time a renewal gets when the lease is longer,
// so that a short Poll on a loaded machine does not turn a slow answer into
// a lost leadership.
const minRenewTimeout = time.Second

// Run takes part in the election until ctx ends. While this instance leads
// it runs lead, with a context that ends as soon as leadership is lost (a
// renewal fails, or a write of the term was refused) or ctx ends;
// otherwise it runs follow, with a context that ends when this instance
// takes the lease. Either must return once its context ends; a lead that
// returns on its own gives leadership up. Run returns when ctx has ended,
// the last lead or follow has returned and the lease is released.
func Run(ctx context.Context, cfg Config, lead, follow func(context.Context)) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lease == nil {
		cfg.changed(true)
		lead(ctx)
		cfg.changed(false)
		return
	}
	for ctx.Err() == nil {
		if !cfg.campaign(ctx, follow) {
			return
		}
		cfg.Logger.Info("projector leadership acquired", "instance", cfg.Instance, "term", cfg.Lease.Term())
		cfg.changed(true)
		cfg.hold(ctx, lead)
	}
}

func (cfg Config) changed(leading bool) {
	if cfg.OnChange != nil {
		cfg.OnChange(leading)
	}
}

// campaign runs follow while it tries the lease every Poll, and returns
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
		taken, err := cfg.Lease.TryAcquire(ctx)
		switch {
		case taken:
			return true
		case err != nil && ctx.Err() == nil && !failing:
			cfg.Logger.Warn("leadership lease cannot be tried; retrying", "instance", cfg.Instance, "error", err)
		}
		failing = err != nil
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// hold runs lead while it renews the lease, and returns once leading
// ended, lead has returned and the lease is released.
func (cfg Config) hold(ctx context.Context, lead func(context.Context)) {
	lctx, stop := context.WithCancel(ctx)
	done := run(lctx, lead)
	term, lost := cfg.Lease.Term(), cfg.Lease.Lost()
	var reason string
	defer func() {
		cfg.changed(false)
		cfg.Logger.Info("projector leadership lost", "instance", cfg.Instance, "term", term, "reason", reason)
		stop()
		<-done
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		cfg.Lease.Release(release)
	}()
	every, timeout := cfg.Poll, max(cfg.Poll, minRenewTimeout)
	if cfg.Length > 0 {
		every = min(every, max(cfg.Length/3, time.Millisecond))
		timeout = min(max(every, minRenewTimeout), cfg.Length)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			reason = "stopping"
			return
		case <-done:
			reason = "leader's work ended"
			return
		case <-lost:
			reason = "a write was refused: the term has ended"
			return
		case <-tick.C:
			renew, cancel := context.WithTimeout(ctx, timeout)
			err := cfg.Lease.Renew(renew)
			cancel()
			if err != nil && ctx.Err() == nil {
				reason = "lease not renewed: " + err.Error()
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
