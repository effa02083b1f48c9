package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/disk"
	"github.com/ticketd/ticketd/internal/metrics"
	"github.com/ticketd/ticketd/internal/natsjs"
	"github.com/ticketd/ticketd/internal/tracing"
	"github.com/ticketd/ticketd/projections"
)

// eventsTopic is the Watermill topic committed events are relayed to.
const eventsTopic = "ticketing.events"

// embeddedRelay names the checkpoint of the relay to the in-process GoChannel.
const embeddedRelay = "relay:embedded"

// natsRelay names the checkpoint of the relay to NATS JetStream.
const natsRelay = "relay:nats"

// serviceConfig is everything `ticketd serve` is configured with.
type serviceConfig struct {
	addr               string
	dbPath             string
	bodyLimit          int64
	consistencyTimeout time.Duration
	idempotencyTTL     time.Duration
	readHeaderTimeout  time.Duration
	readTimeout        time.Duration
	writeTimeout       time.Duration
	idleTimeout        time.Duration
	shutdownTimeout    time.Duration
	maxHeaderBytes     int64
	readyMaxLag        int64
	minFreeBytes       int64
	sseHeartbeat       time.Duration
	sseLinger          time.Duration
	maxStreams         int64
	corsOrigins        string
	debugAddr          string
	nats               natsConfig
	access             accessConfig
	// tracing, set from the OTEL_* environment, traces requests and
	// appends; nil traces nothing.
	tracing *tracing.Tracing
}

// natsConfig configures the relay to NATS JetStream; an empty url turns it off.
type natsConfig struct {
	url           string
	subjectPrefix string
	stream        string
	source        string
}

func (c *serviceConfig) register(cmd *command) {
	cmd.String(&c.addr, "addr", "TICKETD_ADDR", ":9000", "address to listen on")
	cmd.String(&c.dbPath, "db", "TICKETD_DB", "data/app.db", "SQLite database file (created with its folder if missing)")
	cmd.Int64(&c.bodyLimit, "body-limit", "TICKETD_BODY_LIMIT", 64<<10, "largest request body in bytes; larger gets 413")
	cmd.Duration(&c.consistencyTimeout, "consistency-timeout", "TICKETD_CONSISTENCY_TIMEOUT", 5*time.Second, "how long a command waits for queries to reflect it before answering marked Ticketd-Consistency: pending, and a read waits for its Ticketd-Min-Position before answering 503")
	cmd.Duration(&c.idempotencyTTL, "idempotency-ttl", "TICKETD_IDEMPOTENCY_TTL", 24*time.Hour, "how long Idempotency-Key records are kept (at least)")
	cmd.Duration(&c.readHeaderTimeout, "read-header-timeout", "TICKETD_READ_HEADER_TIMEOUT", 5*time.Second, "time allowed to read request headers")
	cmd.Duration(&c.readTimeout, "read-timeout", "TICKETD_READ_TIMEOUT", 30*time.Second, "time allowed to read a whole request")
	cmd.Duration(&c.writeTimeout, "write-timeout", "TICKETD_WRITE_TIMEOUT", 30*time.Second, "time allowed to write a response")
	cmd.Duration(&c.idleTimeout, "idle-timeout", "TICKETD_IDLE_TIMEOUT", 120*time.Second, "how long an idle keep-alive connection stays open")
	cmd.Duration(&c.shutdownTimeout, "shutdown-timeout", "TICKETD_SHUTDOWN_TIMEOUT", 15*time.Second, "how long shutdown waits for in-flight requests")
	cmd.Int64(&c.maxHeaderBytes, "max-header-bytes", "TICKETD_MAX_HEADER_BYTES", 64<<10, "largest request line and header block in bytes, at most 64 MiB; larger gets 431")
	cmd.Int64(&c.readyMaxLag, "ready-max-lag", "TICKETD_READY_MAX_LAG", 1000, "how many events the projection or the relay may be behind the log while /readyz answers ready")
	cmd.Int64(&c.minFreeBytes, "min-free-bytes", "TICKETD_MIN_FREE_BYTES", 256<<20, "free bytes the database's filesystem must keep for /readyz to answer ready, so the service is taken out of rotation before writes fail on a full disk; 0 only requires the space to be measurable")
	cmd.Duration(&c.sseHeartbeat, "sse-heartbeat", "TICKETD_SSE_HEARTBEAT", 15*time.Second, "how often an idle /events/stream sends a heartbeat comment")
	cmd.Duration(&c.sseLinger, "sse-linger", "TICKETD_SSE_LINGER", 200*time.Millisecond, "how long an /events/stream lets new events gather before it sends them: lower is fresher, higher costs less with many streams")
	cmd.Int64(&c.maxStreams, "max-streams", "TICKETD_MAX_STREAMS", 1000, "most /events/stream connections open at once; one more gets 503 with Retry-After")
	cmd.String(&c.corsOrigins, "cors-origins", "TICKETD_CORS_ORIGINS", "", "origins whose web pages may call the API (CORS): a comma list such as https://a.example,http://localhost:3000, or * for any; empty: none")
	cmd.String(&c.debugAddr, "debug-addr", "TICKETD_DEBUG_ADDR", "", "address of a second listener serving net/http/pprof (/debug/pprof/) and expvar (/debug/vars), never served on --addr; empty turns it off. Keep it on loopback or a private interface")
	cmd.String(&c.nats.url, "nats-url", "TICKETD_NATS_URL", "", "NATS server; when set, every committed event is also published to JetStream as a CloudEvent")
	cmd.String(&c.nats.subjectPrefix, "nats-subject-prefix", "TICKETD_NATS_SUBJECT_PREFIX", "ticketing.events", "NATS subject prefix: an event of type T is published on subject PREFIX.T")
	cmd.String(&c.nats.stream, "nats-stream", "TICKETD_NATS_STREAM", "TICKETING_EVENTS", "JetStream stream that holds those subjects; created when missing")
	cmd.String(&c.nats.source, "nats-source", "TICKETD_NATS_SOURCE", "urn:ticketd", "CloudEvents source attribute of the published events")
	c.access.register(cmd)
}

// validate reports the first invalid setting in one line.
func (c serviceConfig) validate() error {
	switch {
	case c.dbPath == "":
		return fmt.Errorf("%w: --db must not be empty", errUsage)
	case c.bodyLimit < 1:
		return fmt.Errorf("%w: --body-limit must be at least 1", errUsage)
	case c.maxHeaderBytes < 1 || c.maxHeaderBytes > 64<<20:
		return fmt.Errorf("%w: --max-header-bytes must be between 1 and 67108864 (64 MiB)", errUsage)
	case c.readyMaxLag < 1:
		return fmt.Errorf("%w: --ready-max-lag must be at least 1", errUsage)
	case c.maxStreams < 1 || c.maxStreams > 1<<20:
		return fmt.Errorf("%w: --max-streams must be between 1 and 1048576", errUsage)
	case c.minFreeBytes < 0:
		return fmt.Errorf("%w: --min-free-bytes must be at least 0", errUsage)
	case c.idempotencyTTL < time.Hour:
		return fmt.Errorf("%w: --idempotency-ttl must be at least 1h", errUsage)
	case c.nats.url != "" && (c.nats.stream == "" || strings.ContainsAny(c.nats.stream, ".*> \t\r\n/\\")):
		return fmt.Errorf("%w: --nats-stream must be a JetStream stream name (no dots, wildcards, slashes or spaces)", errUsage)
	case c.nats.url != "" && c.nats.source == "":
		return fmt.Errorf("%w: --nats-source must not be empty", errUsage)
	}
	if c.debugAddr != "" {
		if _, _, err := net.SplitHostPort(c.debugAddr); err != nil {
			return fmt.Errorf("%w: --debug-addr must be HOST:PORT or :PORT: %v", errUsage, err)
		}
	}
	if c.nats.url != "" {
		if err := checkSubjectPrefix(c.nats.subjectPrefix); err != nil {
			return err
		}
	}
	for name, d := range map[string]time.Duration{
		"consistency-timeout": c.consistencyTimeout, "read-header-timeout": c.readHeaderTimeout,
		"read-timeout": c.readTimeout, "write-timeout": c.writeTimeout, "idle-timeout": c.idleTimeout,
		"shutdown-timeout": c.shutdownTimeout, "sse-heartbeat": c.sseHeartbeat, "sse-linger": c.sseLinger,
	} {
		if d <= 0 {
			return fmt.Errorf("%w: --%s must be positive", errUsage, name)
		}
	}
	return nil
}

// checkSubjectPrefix fails with errUsage, naming --nats-subject-prefix,
// unless p is one or more dot-separated NATS subject tokens without
// wildcards or whitespace.
func checkSubjectPrefix(p string) error {
	for _, token := range strings.Split(p, ".") {
		if token == "" || strings.ContainsAny(token, "*> \t\r\n") {
			return fmt.Errorf("%w: --nats-subject-prefix must be dot-separated NATS subject tokens without wildcards or spaces", errUsage)
		}
	}
	return nil
}

// storeAuditor audits the live database of a store.
type storeAuditor struct{ store *eventstore.Store }

func (a storeAuditor) Audit(ctx context.Context) (projections.AuditReport, error) {
	return projections.Audit(ctx, a.store, nil)
}

// service is a running ticketd: the event store, the tickets projection fed
// by the relay through Watermill, and the HTTP server.
type service struct {
	cfg     serviceConfig
	logger  *slog.Logger
	metrics *metrics.Metrics
	store   *eventstore.Store
	tickets *projections.Tickets
	sales   *projections.Sales
	pubsub  *gochannel.GoChannel
	router  *message.Router
	// projector is the tickets projection's handler in router. Stopping it
	// leaves the projection where it is while the relay goes on.
	projector *message.Handler
	// salesProjector is the sales projection's handler in router.
	salesProjector *message.Handler
	relay          *eventstore.Relay
	// natsPublisher and natsRelay are nil unless NATS is configured.
	natsPublisher *natsjs.Publisher
	natsRelay     *eventstore.Relay
	http          *http.Server
	ln            net.Listener
	// debug and debugLn are nil unless --debug-addr is set.
	debug   *http.Server
	debugLn net.Listener

	stopBackground context.CancelFunc
	background     sync.WaitGroup
	served         chan error
}

// startService opens the database, catches the projection up, starts the
// Watermill router and relay, and begins serving HTTP. On failure it releases
// whatever it had started.
func startService(ctx context.Context, cfg serviceConfig, logger *slog.Logger) (_ *service, err error) {
	s := &service{cfg: cfg, logger: logger, metrics: metrics.New(logger), served: make(chan error, 1)}
	build := currentBuild()
	s.metrics.RecordBuild(build.version, build.commit, build.goVersion)
	apiKeys, err := cfg.access.load()
	if err != nil {
		return nil, err
	}
	corsOrigins, err := httpapi.ParseCORSOrigins(cfg.corsOrigins)
	if err != nil {
		return nil, fmt.Errorf("%w: --cors-origins ($TICKETD_CORS_ORIGINS): %v", errUsage, err)
	}
	logAccessControl(logger, apiKeys)
	defer func() {
		if err != nil {
			s.release()
			if s.store != nil {
				s.store.Abandon() // a database created for this start goes with it
			}
		}
	}()
	if cfg.tracing == nil {
		cfg.tracing = tracing.Off()
	}
	if s.store, err = eventstore.Open(cfg.dbPath, eventstore.Options{OnCommit: s.metrics.ObserveCommit, Logger: logger, TracerProvider: cfg.tracing.Provider}); err != nil {
		return nil, err
	}
	if s.tickets, err = projections.OpenTickets(ctx, s.store, logger); err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := s.tickets.CatchUp(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("catch up tickets projection: %w", err)
	}
	logger.Info("tickets projection caught up", "applied", n, "position", s.tickets.Position(), "took_ms", time.Since(start).Milliseconds())
	if err = s.openSales(ctx); err != nil {
		return nil, err
	}
	s.tickets.SetAppliedHook(s.metrics.ProjectionApplied)
	s.skipRelayingApplied(ctx)

	wmLogger := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	s.pubsub = gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, wmLogger)
	if s.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: cfg.shutdownTimeout}, wmLogger); err != nil {
		return nil, err
	}
	s.projector = s.router.AddConsumerHandler("tickets-projector", eventsTopic, s.pubsub, s.tickets.Handle)
	s.projector.AddMiddleware(projectorBackoff(wmLogger).Middleware)
	s.salesProjector = s.router.AddConsumerHandler("sales-projector", eventsTopic, s.pubsub, s.sales.Handle)
	s.salesProjector.AddMiddleware(projectorBackoff(wmLogger).Middleware)
	if s.relay, err = eventstore.NewRelay(s.store, s.pubsub, eventstore.RelayConfig{Name: embeddedRelay, Topic: eventsTopic, Logger: logger}); err != nil {
		return nil, err
	}
	// Consumers that gate readiness, and those whose lag is only reported;
	// the metrics show the lag of both.
	gating := map[string]httpapi.Consumer{projections.TicketsCheckpoint: s.tickets, embeddedRelay: s.relay}
	reported := map[string]httpapi.Consumer{}
	if cfg.nats.url != "" {
		if err = s.openNATSRelay(); err != nil {
			return nil, err
		}
		reported[natsRelay] = s.natsRelay
	}
	lagged := map[string]metrics.Consumer{projections.SalesCheckpoint: s.sales}
	for _, consumers := range []map[string]httpapi.Consumer{gating, reported} {
		for name, c := range consumers {
			lagged[name] = c
		}
	}
	if err = s.metrics.WatchLag(s.store, lagged); err != nil {
		return nil, err
	}
	dbDisk := disk.Of(cfg.dbPath)
	if err = s.metrics.WatchDisk(dbDisk); err != nil {
		return nil, err
	}

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBackground = stop
	s.goBackground(func() {
		if err := s.router.Run(bg); err != nil {
			logger.Error("watermill router stopped", "error", err)
		}
	})
	select {
	case <-s.router.Running():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.goBackground(func() {
		if err := s.relay.Run(bg); err != nil {
			logger.Error("relay stopped", "error", err)
		}
	})
	if s.natsRelay != nil {
		s.goBackground(func() {
			if err := s.natsRelay.Run(bg); err != nil {
				logger.Error("nats relay stopped", "error", err)
			}
		})
	}
	s.goBackground(func() { s.purgeIdempotency(bg) })

	api := httpapi.NewServer(httpapi.Deps{Log: s.store, Tickets: s.tickets, Sales: s.sales, Auditor: storeAuditor{s.store}, Metrics: s.metrics,
		Readiness: httpapi.Readiness{Database: s.store, Consumers: gating, Reported: reported, Disk: dbDisk},
	}, httpapi.Config{
		BodyLimit:          cfg.bodyLimit,
		MaxHeaderBytes:     int(cfg.maxHeaderBytes),
		ConsistencyTimeout: cfg.consistencyTimeout,
		Logger:             logger,
		ReadyMaxLag:        cfg.readyMaxLag,
		MinFreeBytes:       cfg.minFreeBytes,
		StreamHeartbeat:    cfg.sseHeartbeat,
		StreamLinger:       cfg.sseLinger,
		MaxStreams:         int(cfg.maxStreams),
		CORSOrigins:        corsOrigins,
		APIKeys:            apiKeys,
		TracerProvider:     cfg.tracing.Provider,
		Propagator:         cfg.tracing.Propagator,
	})
	s.http = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    httpapi.HeaderReadLimit(int(cfg.maxHeaderBytes)),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnContext:       httpapi.ConnContext,
	}
	s.metrics.InitLabels(api.Routes(), httpapi.CommandRoutes, domain.EventTypes)
	s.http.RegisterOnShutdown(api.CloseStreams)
	if s.ln, err = net.Listen("tcp", cfg.addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	s.ln = httpapi.WrapListener(s.ln)
	if cfg.debugAddr != "" {
		if s.debug, s.debugLn, err = startDebug(cfg.debugAddr, logger); err != nil {
			s.ln.Close()
			return nil, err
		}
	}
	go func() { s.served <- s.http.Serve(s.ln) }()
	logger.Info("ticketd serving", "addr", s.ln.Addr().String(), "db", cfg.dbPath, "log_head", s.store.Head())
	return s, nil
}

// openSales opens the sales projection and catches it up from the log.
func (s *service) openSales(ctx context.Context) (err error) {
	if s.sales, err = projections.OpenSales(ctx, s.store, s.logger); err != nil {
		return err
	}
	start := time.Now()
	n, err := s.sales.CatchUp(ctx, nil)
	if err != nil {
		return fmt.Errorf("catch up sales projection: %w", err)
	}
	s.logger.Info("sales projection caught up", "applied", n, "position", s.sales.Position(), "took_ms", time.Since(start).Milliseconds())
	return nil
}

// openNATSRelay creates the publisher to JetStream, which connects in the
// background (NATS need not be up), and the relay that feeds it CloudEvents.
func (s *service) openNATSRelay() (err error) {
	nc := s.cfg.nats
	s.natsPublisher, err = natsjs.NewPublisher(natsjs.Config{
		URL: nc.url, Stream: nc.stream, Subjects: []string{nc.subjectPrefix + ".>"},
		ClientName: "ticketd " + natsRelay, Logger: s.logger,
	})
	if err != nil {
		return err
	}
	s.natsRelay, err = eventstore.NewRelay(s.store, s.natsPublisher, eventstore.RelayConfig{
		Name:     natsRelay,
		TopicFor: func(rec eventstore.Record) string { return nc.subjectPrefix + "." + rec.Type },
		Encode:   eventstore.CloudEventEncoder(nc.source),
		Logger:   s.logger,
	})
	return err
}

// skipRelayingApplied moves the embedded relay's checkpoint up to the
// projectors', which have just caught up from the log: they are the relay's
// only subscribers and would ignore everything at or below their own
// checkpoints. Without it a relay behind (a seeded or imported database)
// would republish the whole log, unready, for nothing. A failure only costs
// that, so it is logged.
func (s *service) skipRelayingApplied(ctx context.Context) {
	applied := min(s.tickets.Position(), s.sales.Position())
	relayed, err := s.store.Checkpoint(ctx, embeddedRelay)
	if err == nil && relayed < applied {
		err = s.store.SaveCheckpoint(ctx, embeddedRelay, applied)
	}
	if err != nil {
		s.logger.Warn("relay checkpoint not moved up to the projection's", "relay", embeddedRelay, "position", applied, "error", err)
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

func (s *service) goBackground(fn func()) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		fn()
	}()
}

// purgeIdempotency deletes idempotency records older than the TTL, hourly.
func (s *service) purgeIdempotency(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		n, err := s.store.PurgeIdempotency(ctx, time.Now().Add(-s.cfg.idempotencyTTL))
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
func (s *service) Addr() string { return s.ln.Addr().String() }

// Done is closed with the HTTP server's error when it stops on its own.
func (s *service) Done() <-chan error { return s.served }

// shutdown stops accepting connections, lets in-flight requests finish
// (bounded by the shutdown timeout), stops the relay and the Watermill
// router, flushes the writer and closes the database.
func (s *service) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(fmt.Errorf("in-flight requests did not finish within %s", s.cfg.shutdownTimeout), s.http.Close())
	}
	return errors.Join(err, s.release())
}

// release stops and closes every started part, in dependency order.
func (s *service) release() error {
	var errs []error
	if s.debug != nil {
		errs = append(errs, s.debug.Close())
	}
	if s.stopBackground != nil {
		s.stopBackground()
	}
	if s.router != nil {
		errs = append(errs, s.router.Close())
	}
	if s.pubsub != nil {
		errs = append(errs, s.pubsub.Close())
	}
	if s.natsPublisher != nil {
		errs = append(errs, s.natsPublisher.Close()) // fails a publish in progress, so the relay stops now
	}
	s.background.Wait()
	s.catchUpProjections()
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
func (s *service) catchUpProjections() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancel()
	type projection interface {
		CatchUp(context.Context, func(int64)) (int64, error)
	}
	var opened []projection
	if s.tickets != nil {
		opened = append(opened, s.tickets)
	}
	if s.sales != nil {
		opened = append(opened, s.sales)
	}
	for _, p := range opened {
		if _, err := p.CatchUp(ctx, nil); err != nil {
			s.logger.Warn("projection behind the log at stop", "error", err)
		}
	}
}
