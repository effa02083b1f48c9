// Package service is ticketd's wiring: Start opens the event store and the
// read models' tables, catches the projections up, runs the Watermill
// router, the relays and the HTTP server, and Shutdown stops them in order.
// cmd/ticketd only parses flags into a Config; tests and tools start the
// same service.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/disk"
	"github.com/ticketd/ticketd/internal/metrics"
	"github.com/ticketd/ticketd/internal/natsjs"
	"github.com/ticketd/ticketd/internal/tracing"
	"github.com/ticketd/ticketd/projections"
)

// eventsTopic is the Watermill topic committed events are relayed to.
const eventsTopic = "ticketing.events"

// EmbeddedRelayCheckpoint names the checkpoint of the relay to the
// in-process GoChannel.
const EmbeddedRelayCheckpoint = "relay:embedded"

// NATSRelayCheckpoint names the checkpoint of the relay to NATS JetStream.
const NATSRelayCheckpoint = "relay:nats"

// storeAuditor audits the live database of a store.
type storeAuditor struct {
	store   eventstore.Store
	storage projections.Storage
}

func (a storeAuditor) Audit(ctx context.Context) (projections.AuditReport, error) {
	return projections.Audit(ctx, a.store, a.storage, nil)
}

// Service is a running ticketd: the event store, the tickets projection fed
// by the relay through Watermill, and the HTTP server.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics.Metrics
	store   eventstore.Store
	storage projections.Storage
	models  *projections.Set
	// commands are the application's, which the API and the leader's
	// duties run.
	commands *app.Commands
	role     *role
	// dutiesMu guards duties, those of the current leadership; nil while
	// this instance does not lead.
	dutiesMu sync.Mutex
	duties   *duties
	// natsPublisher is nil unless NATS is configured.
	natsPublisher *natsjs.Publisher
	http          *http.Server
	ln            net.Listener
	// debug and debugLn are nil unless DebugAddr is set.
	debug   *http.Server
	debugLn net.Listener

	// backgroundCtx ends with stopBackground, at release.
	backgroundCtx  context.Context
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	served         chan error
}

// Start opens the database, catches the projections up, starts the
// Watermill router and relays, and begins serving HTTP. With cfg.Cluster
// it leaves all but opening the projections and serving to the projector
// leadership, which it takes part in in the background (see lead and
// follow). It fails with an ErrConfig error when cfg is invalid (see
// Validate) or its API keys or CORS origins cannot be read; on any failure
// it releases whatever it had started, and a database file it created is
// removed.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.InstanceID = cmp.Or(cfg.InstanceID, DefaultInstanceID())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, logger: logger, metrics: metrics.New(logger), served: make(chan error, 1), role: &role{instance: cfg.InstanceID}}
	s.metrics.RecordBuild(cfg.Build.Version, cfg.Build.Commit, cfg.Build.GoVersion)
	s.metrics.RecordInstance(cfg.InstanceID, s.role.Leader)
	apiKeys, err := cfg.Access.load()
	if err != nil {
		return nil, err
	}
	corsOrigins, err := httpapi.ParseCORSOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, fmt.Errorf("%w: --cors-origins ($TICKETD_CORS_ORIGINS): %v", ErrConfig, err)
	}
	logAccessControl(logger, apiKeys)
	logger.Info("ticketd starting", "instance", cfg.InstanceID, "cluster", cfg.Cluster)
	defer func() {
		if err != nil {
			s.release()
			if s.store != nil {
				s.store.Abandon() // a database created for this start goes with it
			}
		}
	}()
	if cfg.Tracing == nil {
		cfg.Tracing = tracing.Off()
	}
	if s.store, s.storage, err = openEngine(ctx, cfg, s.metrics, logger); err != nil {
		return nil, err
	}
	if s.models, err = projections.Open(ctx, s.store, s.storage, logger); err != nil {
		return nil, err
	}
	s.models.Showings.SetClock(cfg.Now)
	s.commands = app.New(s.store, nil)
	s.commands.OnRefundRead(s.models.RefundRead) // applying a refund then reads no stream
	s.commands.UseShowings(cfg.Now, s.models.Showings)
	s.models.Consistent().SetAppliedHook(func(rec eventstore.Record) {
		// An event whose commit end is no longer remembered counts from its
		// commit's start, which only overstates the lag.
		committed, found := s.store.HeadReachedAt(rec.Position)
		if !found {
			committed = rec.OccurredAt
		}
		s.metrics.ProjectionApplied(committed)
	})
	if cfg.NATS.URL != "" {
		if err = s.openNATSPublisher(); err != nil {
			return nil, err
		}
	}
	s.backgroundCtx, s.stopBackground = context.WithCancel(context.WithoutCancel(ctx))
	if !cfg.Cluster {
		if err = s.catchUp(ctx); err != nil {
			return nil, err
		}
		s.skipRelayingApplied(ctx)
		if s.duties, err = s.startDuties(ctx); err != nil {
			return nil, err
		}
		s.role.leading.Store(true)
	}
	// Consumers that gate readiness, those whose lag is only reported, and
	// the read models shown only while they are rebuilt; the metrics show
	// the lag of every one.
	consistent := s.models.Consistent()
	gating := map[string]httpapi.Consumer{consistent.Name(): consistent,
		EmbeddedRelayCheckpoint: leaderRelay{s, func(d *duties) *eventstore.Relay { return d.relay }}}
	reported := map[string]httpapi.Consumer{}
	if cfg.NATS.URL != "" {
		reported[NATSRelayCheckpoint] = leaderRelay{s, func(d *duties) *eventstore.Relay { return d.natsRelay }}
	}
	lagged := map[string]metrics.Consumer{}
	rebuilt := map[string]httpapi.RebuiltConsumer{}
	for _, p := range s.models.Projectors() {
		lagged[p.Name()] = p
		if p != consistent {
			rebuilt[p.Name()] = p
		}
	}
	for _, consumers := range []map[string]httpapi.Consumer{gating, reported} {
		for name, c := range consumers {
			lagged[name] = c
		}
	}
	if err = s.metrics.WatchLag(s.store, lagged); err != nil {
		return nil, err
	}
	var dbDisk httpapi.DiskSpace // a PostgreSQL server's disk is its own to watch
	if !IsPostgres(cfg.DB) {
		d := disk.Of(cfg.DB)
		if err = s.metrics.WatchDisk(d); err != nil {
			return nil, err
		}
		dbDisk = d
	}

	if cfg.Cluster {
		if err = s.elect(s.backgroundCtx); err != nil {
			return nil, err
		}
	}

	api := httpapi.NewServer(httpapi.Deps{Log: s.store, Commands: s.commands, Tickets: s.models.Tickets, Sales: s.models.Sales, Showings: s.models.Showings, Auditor: storeAuditor{s.store, s.storage}, Metrics: s.metrics,
		Readiness: httpapi.Readiness{Database: s.store, Chain: s.store, Consumers: gating, Reported: reported, Rebuilt: rebuilt, Disk: dbDisk, Role: s.role},
	}, httpapi.Config{
		BodyLimit:          cfg.BodyLimit,
		MaxHeaderBytes:     int(cfg.MaxHeaderBytes),
		ConsistencyTimeout: cfg.ConsistencyTimeout,
		Logger:             logger,
		ReadyMaxLag:        cfg.ReadyMaxLag,
		MinFreeBytes:       cfg.MinFreeBytes,
		StreamHeartbeat:    cfg.SSEHeartbeat,
		StreamLinger:       cfg.SSELinger,
		MaxStreams:         int(cfg.MaxStreams),
		MaxWaitingReads:    int(cfg.MaxWaitingReads),
		CORSOrigins:        corsOrigins,
		APIKeys:            apiKeys,
		TracerProvider:     cfg.Tracing.Provider,
		Propagator:         cfg.Tracing.Propagator,
	})
	s.http = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    httpapi.HeaderReadLimit(int(cfg.MaxHeaderBytes)),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnContext:       httpapi.ConnContext,
	}
	s.metrics.InitLabels(api.Routes(), httpapi.CommandRoutes, domain.EventTypes)
	s.http.RegisterOnShutdown(api.CloseStreams)
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.ln = httpapi.WrapListener(s.ln)
	if cfg.DebugAddr != "" {
		if s.debug, s.debugLn, err = startDebug(cfg.DebugAddr, logger); err != nil {
			s.ln.Close()
			return nil, err
		}
	}
	go func() { s.served <- s.http.Serve(s.ln) }()
	logger.Info("ticketd serving", "addr", s.ln.Addr().String(), "db", RedactDB(cfg.DB), "log_head", s.store.Head(), "instance", cfg.InstanceID)
	return s, nil
}

// catchUp applies to each read model what the log holds beyond its
// checkpoint; those Rebuilding (their version changed) are folded from the
// log in the background instead, logging their progress, while the others
// serve. A read model the database cannot take writes for (a read-only
// file, a full disk: a CodeUnavailable error) stays where it is, logged:
// the service starts as on a database that takes no writes, reads answer
// from what the tables hold, and the projectors catch up from the log once
// it takes writes again. Any other failure is returned.
func (s *Service) catchUp(ctx context.Context) error {
	for _, p := range s.models.Projectors() {
		if p.Rebuilding() {
			s.goBackground(func() { s.rebuild(s.backgroundCtx, p) })
			continue
		}
		start := time.Now()
		n, err := p.CatchUp(ctx, nil)
		name := projections.Short(p.Name())
		if domain.ErrorCode(err) == domain.CodeUnavailable {
			s.logger.Warn(name+" projection behind the log: the database takes no writes; reads answer from what it holds until it catches up, once the database takes writes",
				"position", p.Position(), "log_head", s.store.Head(), "error", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("catch up %s projection: %w", name, err)
		}
		s.logger.Info(name+" projection caught up", "applied", n, "position", p.Position(), "took_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// rebuildLogEvery is how often a rebuild in the background logs its
// progress.
const rebuildLogEvery = 5 * time.Second

// rebuild folds the log into p, which is Rebuilding, until it has caught
// up or ctx ends, logging its progress; a failure is logged and retried.
func (s *Service) rebuild(ctx context.Context, p *projections.Projector) {
	name := projections.Short(p.Name())
	start, logged := time.Now(), time.Now()
	s.logger.Info(name+" projection rebuilding from the log; its queries answer 503 until it is done", "log_head", s.store.Head())
	for p.Rebuilding() {
		_, err := p.CatchUp(ctx, func(int64) {
			if time.Since(logged) >= rebuildLogEvery {
				logged = time.Now()
				s.logger.Info(name+" projection rebuilding", "position", p.Position(), "log_head", s.store.Head())
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logger.Warn(name+" projection rebuild failed; retrying", "position", p.Position(), "error", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
		}
	}
	s.logger.Info(name+" projection rebuilt", "position", p.Position(), "took_ms", time.Since(start).Milliseconds())
}

// openNATSPublisher creates the publisher to JetStream, which connects in
// the background (NATS need not be up).
func (s *Service) openNATSPublisher() (err error) {
	nc := s.cfg.NATS
	s.natsPublisher, err = natsjs.NewPublisher(natsjs.Config{
		URL: nc.URL, Stream: nc.Stream, Subjects: []string{nc.SubjectPrefix + ".>"},
		ClientName: "ticketd " + NATSRelayCheckpoint + " " + s.cfg.InstanceID, Logger: s.logger,
		OnRefused: func() { s.metrics.LeaderWriteRefused(metrics.RefusedByNATS) },
	})
	return err
}

// newNATSRelay returns the relay that feeds the NATS publisher CloudEvents,
// from the relay's stored checkpoint on.
func (s *Service) newNATSRelay() (*eventstore.Relay, error) {
	nc := s.cfg.NATS
	return eventstore.NewRelay(s.store, s.natsPublisher, eventstore.RelayConfig{
		Name:     NATSRelayCheckpoint,
		TopicFor: func(rec eventstore.Record) string { return nc.SubjectPrefix + "." + rec.Type },
		Encode:   eventstore.CloudEventEncoder(nc.Source),
		Logger:   s.logger,
	})
}

// skipRelayingApplied moves the embedded relay's checkpoint up to the
// projectors', which have just caught up from the log: they are the relay's
// only subscribers and would ignore everything at or below their own
// checkpoints. Without it a relay behind (a seeded or imported database)
// would republish the whole log, unready, for nothing. A failure only costs
// that, so it is logged.
func (s *Service) skipRelayingApplied(ctx context.Context) {
	applied := s.store.Head()
	for _, p := range s.models.Projectors() {
		applied = min(applied, p.Position())
	}
	relayed, err := s.store.Checkpoint(ctx, EmbeddedRelayCheckpoint)
	if err == nil && relayed < applied {
		err = s.store.MoveCheckpoint(ctx, EmbeddedRelayCheckpoint, relayed, applied)
	}
	if err != nil {
		s.logger.Warn("relay checkpoint not moved up to the projection's", "relay", EmbeddedRelayCheckpoint, "position", applied, "error", err)
	}
}

// projectorBackoff retries a failing projection (a full or read-only disk)
// with exponential backoff before the message is nacked and redelivered, so
// a storage fault costs a retry a second instead of a busy loop.
func projectorBackoff(logger watermill.LoggerAdapter) middleware.Retry {
	return middleware.Retry{
		MaxRetries:      8,
		InitialInterval: 10 * time.Millisecond,
		MaxInterval:     time.Second,
		Multiplier:      2,
		Logger:          logger,
	}
}

func (s *Service) goBackground(fn func()) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		fn()
	}()
}

// purgeIdempotency deletes idempotency records older than the TTL, hourly.
func (s *Service) purgeIdempotency(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		n, err := s.store.PurgeIdempotency(ctx, time.Now().Add(-s.cfg.IdempotencyTTL))
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("purging idempotency keys failed", "error", err)
		case n > 0:
			s.logger.Info("purged expired idempotency keys", "deleted", n)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// Addr returns the address the service listens on.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Done is closed with the HTTP server's error when it stops on its own.
func (s *Service) Done() <-chan error { return s.served }

// Shutdown stops accepting connections, lets in-flight requests finish
// (bounded by the shutdown timeout), stops the relay and the Watermill
// router, flushes the writer and closes the database.
func (s *Service) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(fmt.Errorf("in-flight requests did not finish within %s", s.cfg.ShutdownTimeout), s.http.Close())
	}
	return errors.Join(err, s.release())
}

// release stops and closes every started part, in dependency order.
func (s *Service) release() error {
	var errs []error
	if s.debug != nil {
		errs = append(errs, s.debug.Close())
	}
	if s.stopBackground != nil {
		s.stopBackground() // a cluster leader stops its duties and catches up
	}
	if s.natsPublisher != nil {
		errs = append(errs, s.natsPublisher.Close()) // fails a publish in progress, so the relay stops now
	}
	if !s.cfg.Cluster {
		if s.duties != nil {
			errs = append(errs, s.duties.stop())
		}
		s.catchUpProjections()
	}
	s.background.Wait()
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// catchUpProjections applies to each projection what the log holds beyond
// it, once their handlers have stopped, so that a clean stop leaves no read
// model behind the log (commands wait only for the tickets projection). A
// projection that cannot catch up is logged; its checkpoint still makes the
// next start resume it.
func (s *Service) catchUpProjections() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.models == nil {
		return
	}
	for _, p := range s.models.Projectors() {
		if _, err := p.CatchUp(ctx, nil); err != nil {
			s.logger.Warn("projection behind the log at stop", "error", err)
		}
	}
}

// Store returns the service's event store, for tests and tools.
func (s *Service) Store() eventstore.Store { return s.store }

// ReadModels returns the service's read models.
func (s *Service) ReadModels() *projections.Set { return s.models }

// Projector returns the Watermill handler of the read model name (its
// checkpoint name) in the router of the current leadership, nil while this
// instance does not lead: stopping it leaves its read model where it is
// while the relay goes on.
func (s *Service) Projector(name string) *message.Handler {
	if d := s.currentDuties(); d != nil {
		return d.projectors[name]
	}
	return nil
}

// NATSRelay returns the relay to NATS JetStream of the current leadership,
// nil unless NATS is configured and this instance leads.
func (s *Service) NATSRelay() *eventstore.Relay {
	if d := s.currentDuties(); d != nil {
		return d.natsRelay
	}
	return nil
}

// Leader reports whether this instance is the projector leader now (always
// outside a cluster).
func (s *Service) Leader() bool { return s.role.Leader() }

// InstanceID returns the name of this instance.
func (s *Service) InstanceID() string { return s.role.instance }

// Handler returns the HTTP handler the service serves.
func (s *Service) Handler() http.Handler { return s.http.Handler }

// Config returns the configuration the service started with.
func (s *Service) Config() Config { return s.cfg }

// DebugAddr returns the address of the pprof and expvar listener, "" when
// Config.DebugAddr is empty.
func (s *Service) DebugAddr() string {
	if s.debugLn == nil {
		return ""
	}
	return s.debugLn.Addr().String()
}
