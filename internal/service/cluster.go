package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/leadership"
	"github.com/ticketd/ticketd/internal/metrics"
)

// followPoll is how often a follower refreshes its read models from the
// shared tables when no notification woke it: the bound on how long a
// lost notification delays it.
const followPoll = 250 * time.Millisecond

// DefaultInstanceID returns the name an instance has without
// --instance-id: the host name and the process id, "HOST-PID".
func DefaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// role is this instance's name and whether it leads the projectors now.
type role struct {
	instance string
	leading  atomic.Bool
}

func (r *role) Instance() string { return r.instance }
func (r *role) Leader() bool     { return r.leading.Load() }

// leaderRelay is the position of one relay of the current leadership, for
// readiness and lag metrics. An instance that does not lead has no relay
// of its own to be behind: it reports the log head (no lag).
type leaderRelay struct {
	s    *Service
	pick func(*duties) *eventstore.Relay
}

func (r leaderRelay) Position() int64 {
	if d := r.s.currentDuties(); d != nil {
		if relay := r.pick(d); relay != nil {
			return relay.Position()
		}
	}
	return r.s.store.Head()
}

func (s *Service) currentDuties() *duties {
	s.dutiesMu.Lock()
	defer s.dutiesMu.Unlock()
	return s.duties
}

func (s *Service) setDuties(d *duties) {
	s.dutiesMu.Lock()
	defer s.dutiesMu.Unlock()
	s.duties = d
}

// sharedStore is what cluster mode needs of a store: a database that
// several instances share, with a leadership lease that fences the store's
// writes as leader, and wake-ups at every commit of the derived tables by
// any of the instances (closed channels from DerivedChanged).
type sharedStore interface {
	LeaderLease(eventstore.LeaseOptions) (eventstore.Lease, error)
	DerivedChanged() <-chan struct{}
}

// asShared returns store as a sharedStore, or an ErrConfig error naming
// --cluster when its engine is not one that instances can share.
func asShared(store eventstore.Store) (sharedStore, error) {
	shared, ok := store.(sharedStore)
	if !ok {
		return nil, fmt.Errorf("%w: --cluster ($TICKETD_CLUSTER) needs a database that several instances share (a postgres:// --db): the engine of this one has no leadership lease", ErrConfig)
	}
	return shared, nil
}

// elect takes part in the projector leadership of the cluster until ctx
// ends, in the background: leading, this instance runs the duties (lead);
// otherwise its read models follow the shared tables (follow). From then on
// the store fences every write made as leader by the leadership's lease.
func (s *Service) elect(ctx context.Context) error {
	shared, err := asShared(s.store)
	if err != nil {
		return err
	}
	lease, err := shared.LeaderLease(eventstore.LeaseOptions{Holder: s.cfg.InstanceID, Length: s.cfg.LeaderLease,
		OnRefused: func() { s.metrics.LeaderWriteRefused(metrics.RefusedByPostgres) }})
	if err != nil {
		return err
	}
	cfg := leadership.Config{Lease: lease, Poll: s.cfg.LeaderPoll, Length: s.cfg.LeaderLease, Instance: s.cfg.InstanceID, Logger: s.logger,
		OnChange: func(leading bool) { s.role.leading.Store(leading) }}
	s.goBackground(func() {
		leadership.Run(ctx, cfg,
			func(leading context.Context) { s.lead(leading, ctx.Done()) },
			func(following context.Context) { s.follow(following, shared.DerivedChanged) })
	})
	return nil
}

// lead runs the leader's duties until ctx ends or one of them fails: it
// first refreshes the read models to the shared tables' checkpoints and
// catches them up from the log. When ctx ends because the service stops
// (stopping is closed), rather than because leadership was lost, the read
// models catch up once more before the lease goes. A failure to start, or
// of a duty (a relay whose checkpoint write was refused), is logged and
// gives leadership up, after a pause when starting failed.
func (s *Service) lead(ctx context.Context, stopping <-chan struct{}) {
	d, err := s.takeOver(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("projector leader cannot start; giving leadership up", "instance", s.cfg.InstanceID, "error", err)
			select {
			case <-time.After(s.cfg.LeaderPoll):
			case <-ctx.Done():
			}
		}
		return
	}
	s.setDuties(d)
	select {
	case <-ctx.Done():
	case <-d.failed:
	}
	s.setDuties(nil)
	if err := d.stop(); err != nil {
		s.logger.Warn("projector leader's duties stopped with an error", "error", err)
	}
	select {
	case <-stopping:
		s.catchUpProjections()
	default: // leadership lost: the new leader carries on
	}
}

// takeOver brings the read models to the shared tables and the log, then
// starts the duties.
func (s *Service) takeOver(ctx context.Context) (*duties, error) {
	var errs []error
	for _, p := range s.models.Projectors() {
		errs = append(errs, p.Refresh(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("refresh from the shared tables: %w", err)
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.skipRelayingApplied(ctx)
	return s.startDuties(ctx)
}

// follow keeps the read models at the shared tables' checkpoints until ctx
// ends, woken by changed (the leader's notifications) or every followPoll.
func (s *Service) follow(ctx context.Context, changed func() <-chan struct{}) {
	var wg sync.WaitGroup
	for _, model := range s.models.Projectors() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model.Follow(ctx, changed, followPoll)
		}()
	}
	wg.Wait()
}
