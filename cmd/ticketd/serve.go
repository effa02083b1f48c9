package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/tracing"
)

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var logs logConfig
	cmd := newCommand("serve", "ticketd [serve] [flags]",
		"Runs the HTTP service. SIGINT or SIGTERM stops it gracefully: no new connections,\nin-flight requests finish, pending appends are committed, then it exits 0.", stderr)
	cfg := registerServe(cmd)
	logs.register(cmd)
	if err := cmd.parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := logs.newLogger(stderr)
	if err != nil {
		return err
	}
	cfg.Build = currentBuild()
	if cfg.Tracing, err = tracing.FromEnv(ctx, "ticketd"); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer flushTraces(cfg.Tracing, logger)
	svc, err := service.Start(ctx, *cfg, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "reason", "signal")
	case err := <-svc.Done():
		logger.Error("http server stopped", "error", err)
		return fmt.Errorf("http server: %w", errors.Join(err, svc.Shutdown()))
	}
	if err := svc.Shutdown(); err != nil {
		return err
	}
	logger.Info("stopped cleanly")
	return nil
}

// registerServe defines serve's flags on cmd, each defaulting to
// service.DefaultConfig, and returns the Config they fill.
func registerServe(cmd *command) *service.Config {
	d := service.DefaultConfig()
	c := &service.Config{}
	cmd.String(&c.Addr, "addr", "TICKETD_ADDR", d.Addr, "address to listen on")
	cmd.String(&c.DB, "db", "TICKETD_DB", d.DB, dbUsage)
	cmd.String(&c.PGSchema, "pg-schema", "TICKETD_PG_SCHEMA", d.PGSchema, pgSchemaUsage)
	cmd.Int64(&c.BodyLimit, "body-limit", "TICKETD_BODY_LIMIT", d.BodyLimit, "largest request body in bytes; larger gets 413")
	cmd.Duration(&c.ConsistencyTimeout, "consistency-timeout", "TICKETD_CONSISTENCY_TIMEOUT", d.ConsistencyTimeout, "how long a command waits for queries to reflect it before answering marked Ticketd-Consistency: pending, and a read waits for its Ticketd-Min-Position before answering 503")
	cmd.Duration(&c.IdempotencyTTL, "idempotency-ttl", "TICKETD_IDEMPOTENCY_TTL", d.IdempotencyTTL, "how long Idempotency-Key records are kept (at least)")
	cmd.Duration(&c.ReadHeaderTimeout, "read-header-timeout", "TICKETD_READ_HEADER_TIMEOUT", d.ReadHeaderTimeout, "time allowed to read request headers")
	cmd.Duration(&c.ReadTimeout, "read-timeout", "TICKETD_READ_TIMEOUT", d.ReadTimeout, "time allowed to read a whole request")
	cmd.Duration(&c.WriteTimeout, "write-timeout", "TICKETD_WRITE_TIMEOUT", d.WriteTimeout, "time allowed to write a response")
	cmd.Duration(&c.IdleTimeout, "idle-timeout", "TICKETD_IDLE_TIMEOUT", d.IdleTimeout, "how long an idle keep-alive connection stays open")
	cmd.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TICKETD_SHUTDOWN_TIMEOUT", d.ShutdownTimeout, "how long shutdown waits for in-flight requests")
	cmd.Int64(&c.MaxHeaderBytes, "max-header-bytes", "TICKETD_MAX_HEADER_BYTES", d.MaxHeaderBytes, "largest request line and header block in bytes, at most 64 MiB; larger gets 431")
	cmd.Int64(&c.ReadyMaxLag, "ready-max-lag", "TICKETD_READY_MAX_LAG", d.ReadyMaxLag, "how many events the projection or the relay may be behind the log while /readyz answers ready")
	cmd.Int64(&c.MinFreeBytes, "min-free-bytes", "TICKETD_MIN_FREE_BYTES", d.MinFreeBytes, "free bytes the database's filesystem must keep for /readyz to answer ready, so the service is taken out of rotation before writes fail on a full disk; 0 only requires the space to be measurable")
	cmd.Duration(&c.SSEHeartbeat, "sse-heartbeat", "TICKETD_SSE_HEARTBEAT", d.SSEHeartbeat, "how often an idle /events/stream sends a heartbeat comment")
	cmd.Duration(&c.SSELinger, "sse-linger", "TICKETD_SSE_LINGER", d.SSELinger, "how long an /events/stream lets new events gather before it sends them: lower is fresher, higher costs less with many streams")
	cmd.Int64(&c.MaxStreams, "max-streams", "TICKETD_MAX_STREAMS", d.MaxStreams, "most /events/stream connections open at once; one more gets 503 with Retry-After")
	cmd.Int64(&c.MaxWaitingReads, "max-waiting-reads", "TICKETD_MAX_WAITING_READS", d.MaxWaitingReads, "most reads waiting for their Ticketd-Min-Position at once; one more that would wait gets 503 with Retry-After")
	cmd.String(&c.CORSOrigins, "cors-origins", "TICKETD_CORS_ORIGINS", d.CORSOrigins, "origins whose web pages may call the API (CORS): a comma list such as https://a.example,http://localhost:3000, or * for any; empty: none")
	cmd.String(&c.DebugAddr, "debug-addr", "TICKETD_DEBUG_ADDR", d.DebugAddr, "address of a second listener serving net/http/pprof (/debug/pprof/) and expvar (/debug/vars), never served on --addr; empty turns it off. Keep it on loopback or a private interface")
	cmd.Bool(&c.Cluster, "cluster", "TICKETD_CLUSTER", d.Cluster, "run as one of several instances on one PostgreSQL --db, sharing it (a single-instance serve or a replay is refused meanwhile); one instance at a time, the elected projector leader, runs the projectors and relays, the others follow its tables")
	cmd.String(&c.InstanceID, "instance-id", "TICKETD_INSTANCE_ID", d.InstanceID, "name of this instance in logs, /readyz and metrics; empty: HOSTNAME-PID")
	cmd.Duration(&c.LeaderPoll, "leader-poll", "TICKETD_LEADER_POLL", d.LeaderPoll, "with --cluster, how often an instance that does not lead tries to take the projector leadership lease, and the longest the leader waits between renewals")
	cmd.Duration(&c.LeaderLease, "leader-lease", "TICKETD_LEADER_LEASE", d.LeaderLease, "with --cluster, how long the projector leadership lease lasts after each renewal, on the PostgreSQL server's clock: a leader that stops renewing (hung, paused, cut off) is replaced this long after its last renewal and its writes are refused; at least twice --leader-poll")
	cmd.String(&c.NATS.URL, "nats-url", "TICKETD_NATS_URL", d.NATS.URL, "NATS server; when set, every committed event is also published to JetStream as a CloudEvent")
	cmd.String(&c.NATS.SubjectPrefix, "nats-subject-prefix", "TICKETD_NATS_SUBJECT_PREFIX", d.NATS.SubjectPrefix, "NATS subject prefix: an event of type T is published on subject PREFIX.T")
	cmd.String(&c.NATS.Stream, "nats-stream", "TICKETD_NATS_STREAM", d.NATS.Stream, "JetStream stream that holds those subjects; created when missing")
	cmd.String(&c.NATS.Source, "nats-source", "TICKETD_NATS_SOURCE", d.NATS.Source, "CloudEvents source attribute of the published events")
	cmd.String(&c.Access.KeysFile, "api-keys-file", "TICKETD_API_KEYS_FILE", d.Access.KeysFile, "file of API keys, one \"ROLE KEY\" or \"ROLE sha256:HEX\" a line (roles: clerk, auditor, analyst, manager); turns access control on")
	cmd.String(&c.Access.Keys, "api-keys", "TICKETD_API_KEYS", d.Access.Keys, "API keys as in --api-keys-file, separated by ';' (prefer the environment variable: flags show in ps); turns access control on")
	return c
}

// traceFlushTimeout bounds the export of the spans buffered at exit.
const traceFlushTimeout = 5 * time.Second

// flushTraces exports the spans t still buffers; a failure is logged.
func flushTraces(t *tracing.Tracing, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.Warn("traces not exported at exit", "error", err)
	}
}
