package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// duties are what only the projector leader runs: the Watermill router
// with the projectors, the embedded relay that feeds them, the relay to
// NATS JetStream, the idempotency purge and the expiry of holds. A new leadership starts them
// anew; stop ends them.
type duties struct {
	pubsub *gochannel.GoChannel
	router *message.Router
	// projectors are the read models' handlers in router, by model name.
	// Stopping one leaves its read model where it is while the relay goes
	// on.
	projectors  map[string]*message.Handler
	relay       *eventstore.Relay
	natsRelay   *eventstore.Relay // nil unless NATS is configured
	stopRunning context.CancelFunc
	running     sync.WaitGroup
	// failed is closed when a relay stops on its own with an error (its
	// checkpoint write refused: another leader owns it).
	failed     chan struct{}
	failedOnce sync.Once
}

// startDuties starts the leader's duties, the projections having caught up
// from the log (see catchUp), and returns once the router runs. On failure
// nothing is left running.
func (s *Service) startDuties(ctx context.Context) (_ *duties, err error) {
	d := &duties{failed: make(chan struct{})}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	wmLogger := watermill.NewSlogLoggerWithLevelMapping(s.logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// The relay's batch messages carry their records in their context too
	// (eventstore.NewBatchMessage): PreserveContext hands it on, so the
	// projectors decode nothing.
	d.pubsub = gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true, PreserveContext: true}, wmLogger)
	if d.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: s.cfg.ShutdownTimeout}, wmLogger); err != nil {
		return nil, err
	}
	d.projectors = map[string]*message.Handler{}
	for _, p := range s.models.Projectors() {
		h := d.router.AddConsumerHandler(projections.Short(p.Name())+"-projector", eventsTopic, d.pubsub, p.Handle)
		h.AddMiddleware(projectorBackoff(wmLogger).Middleware)
		d.projectors[p.Name()] = h
	}
	if d.relay, err = eventstore.NewRelay(s.store, d.pubsub, eventstore.RelayConfig{Name: EmbeddedRelayCheckpoint, Topic: eventsTopic, Batched: true, Logger: s.logger}); err != nil {
		return nil, err
	}
	if s.natsPublisher != nil {
		if d.natsRelay, err = s.newNATSRelay(); err != nil {
			return nil, err
		}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d.stopRunning = stop
	d.goRun(func() {
		if err := d.router.Run(runCtx); err != nil {
			s.logger.Error("watermill router stopped", "error", err)
		}
	})
	select {
	case <-d.router.Running():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, relay := range []*eventstore.Relay{d.relay, d.natsRelay} {
		if relay == nil {
			continue
		}
		d.goRun(func() {
			if err := relay.Run(runCtx); err != nil {
				level := slog.LevelError
				if errors.Is(err, eventstore.ErrFenced) {
					level = slog.LevelWarn // a stale leader's: the next one carries on
				}
				s.logger.Log(runCtx, level, "relay stopped", "error", err)
				d.failedOnce.Do(func() { close(d.failed) })
			}
		})
	}
	d.goRun(func() { s.purgeIdempotency(runCtx) })
	d.goRun(func() { s.expireHolds(runCtx) })
	return d, nil
}

func (d *duties) goRun(fn func()) {
	d.running.Add(1)
	go func() {
		defer d.running.Done()
		fn()
	}()
}

// stop ends the duties and returns once they all have returned (the relays
// store their checkpoints as they stop).
func (d *duties) stop() error {
	if d.stopRunning != nil {
		d.stopRunning()
	}
	var errs []error
	if d.router != nil {
		errs = append(errs, d.router.Close())
	}
	if d.pubsub != nil {
		errs = append(errs, d.pubsub.Close())
	}
	d.running.Wait()
	return errors.Join(errs...)
}
