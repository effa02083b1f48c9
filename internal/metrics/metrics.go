// Package metrics holds ticketd's Prometheus metrics in a private registry
// and serves them in the Prometheus text format.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/ticketd/ticketd/eventstore"
)

// Metrics records what ticketd does. Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	logger   *slog.Logger

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	eventsAppended  *prometheus.CounterVec
	commitBatch     prometheus.Histogram
	commitDuration  prometheus.Histogram
	commitErrors    prometheus.Counter
	appendLockWait  prometheus.Histogram
	appendLockHold  prometheus.Histogram
	appendsRejected prometheus.Counter
	idemReplays     *prometheus.CounterVec
	idemConflicts   *prometheus.CounterVec
	sseStreams      prometheus.Gauge
	waitingReads    prometheus.Gauge
	readsRefused    prometheus.Counter
	projectionLag   prometheus.Histogram
	checkFailing    *prometheus.GaugeVec
	leaderRefused   *prometheus.CounterVec
}

// New returns metrics registered in a registry of their own, with the Go
// runtime and process collectors. Errors of a scrape are logged to logger.
func New(logger *slog.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		logger:   logger,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_http_requests_total",
			Help: "HTTP requests answered, by route (the router's pattern, \"unmatched\" for none) and status code.",
		}, []string{"route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ticketd_http_request_duration_seconds",
			Help:    "Time from receiving an HTTP request to answering it, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		eventsAppended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_events_appended_total",
			Help: "Events committed to the log, by event type.",
		}, []string{"type"}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketd_group_commit_batch_size",
			Help:    "Appends carried by one group commit (one transaction, one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9),
		}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketd_group_commit_duration_seconds",
			Help:    "Time one group commit took, including its fsync.",
			Buckets: prometheus.ExponentialBuckets(.0005, 2, 14),
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketd_group_commit_errors_total",
			Help: "Group commits whose transaction failed, failing every append in it (storage unavailable).",
		}),
		appendLockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketd_append_lock_wait_seconds",
			Help:    "Time one group commit waited for PostgreSQL's global append lock while other instances' group commits held it; no observations on SQLite.",
			Buckets: prometheus.ExponentialBuckets(.0001, 2, 14),
		}),
		appendLockHold: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketd_append_lock_hold_seconds",
			Help:    "Time one group commit held PostgreSQL's global append lock, its commit included; no observations on SQLite.",
			Buckets: prometheus.ExponentialBuckets(.0001, 2, 14),
		}),
		appendsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketd_appends_rejected_total",
			Help: "Appends refused on their own inside a group commit: stream version conflict or Idempotency-Key already stored.",
		}),
		idemReplays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_idempotency_replays_total",
			Help: "Commands answered with the stored response of an earlier request with the same Idempotency-Key, by route.",
		}, []string{"route"}),
		idemConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_idempotency_conflicts_total",
			Help: "Commands refused with 409 because their Idempotency-Key belongs to a different request, by route.",
		}, []string{"route"}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketd_sse_streams_open",
			Help: "Server-Sent Events streams currently open.",
		}),
		waitingReads: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketd_waiting_reads",
			Help: "Reads waiting for their Ticketd-Min-Position now.",
		}),
		readsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketd_waiting_reads_refused_total",
			Help: "Reads answered 503 at once because --max-waiting-reads reads were already waiting for their Ticketd-Min-Position.",
		}),
		projectionLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketd_projection_lag_seconds",
			Help:    "Time from the end of an event's commit (when it became readable in the log, on this instance's monotonic clock) to its change being visible in the tickets read table, per event.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		checkFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ticketd_readiness_check_failing",
			Help: "1 when the readiness check failed the last time GET /readyz ran it, else 0, by check.",
		}, []string{"check"}),
		leaderRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_leader_writes_refused_total",
			Help: "Writes made as projector leader that their target refused, by target: postgres, when the leadership term had ended (fenced: another instance leads, or the lease expired); nats, when JetStream refused a publish that did not continue the stream.",
		}, []string{"target"}),
	}
	for _, target := range []string{RefusedByPostgres, RefusedByNATS} {
		m.leaderRefused.WithLabelValues(target)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.eventsAppended, m.commitBatch, m.commitDuration,
		m.commitErrors, m.appendLockWait, m.appendLockHold, m.appendsRejected, m.idemReplays, m.idemConflicts, m.sseStreams, m.waitingReads, m.readsRefused, m.projectionLag, m.checkFailing,
		m.leaderRefused,
	)
	return m
}

// Handler serves every metric in the Prometheus text format. A metric that
// cannot be collected is logged and left out; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:        slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		ErrorHandling:   promhttp.ContinueOnError,
		Registry:        m.registry,
		AcceptedFormats: []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain)},
	})
}

// failureStatuses are the statuses whose request counters start at 0 on
// every route: the server failures a 5xx-rate alert watches.
var failureStatuses = []string{"500", "503"}

// InitLabels creates every labelled counter at 0 for the label values known
// at start, so increase() and rate() count from the first scrape rather than
// from a series' second sample: requests on each of routes answered with
// each of failureStatuses (and each route's duration histogram), idempotency replays and conflicts on each of
// commandRoutes, and events appended of each of eventTypes.
func (m *Metrics) InitLabels(routes, commandRoutes, eventTypes []string) {
	for _, route := range routes {
		m.httpDuration.WithLabelValues(route)
		for _, status := range failureStatuses {
			m.httpRequests.WithLabelValues(route, status)
		}
	}
	for _, route := range commandRoutes {
		m.idemReplays.WithLabelValues(route)
		m.idemConflicts.WithLabelValues(route)
	}
	for _, eventType := range eventTypes {
		m.eventsAppended.WithLabelValues(eventType)
	}
}

// The targets of LeaderWriteRefused.
const (
	RefusedByPostgres = "postgres"
	RefusedByNATS     = "nats"
)

// LeaderWriteRefused counts one write made as leader that target
// (RefusedByPostgres or RefusedByNATS) refused.
func (m *Metrics) LeaderWriteRefused(target string) { m.leaderRefused.WithLabelValues(target).Inc() }

// ReadinessChecked records the outcome of one readiness check.
func (m *Metrics) ReadinessChecked(check string, failing bool) {
	v := 0.0
	if failing {
		v = 1
	}
	m.checkFailing.WithLabelValues(check).Set(v)
}

// ObserveRequest records one answered HTTP request.
func (m *Metrics) ObserveRequest(route string, status int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(took.Seconds())
}

// ObserveCommit records one group commit; it is the event store's
// Options.OnCommit hook.
func (m *Metrics) ObserveCommit(info eventstore.CommitInfo) {
	m.commitBatch.Observe(float64(info.Appends))
	m.commitDuration.Observe(info.Took.Seconds())
	if info.Err != nil {
		m.commitErrors.Inc()
		return
	}
	m.appendsRejected.Add(float64(info.Failed))
	for eventType, n := range info.Events {
		m.eventsAppended.WithLabelValues(eventType).Add(float64(n))
	}
}

// ObserveAppendLock records how long one group commit waited for and then
// held the global append lock; it is the PostgreSQL store's
// Options.OnAppendLock hook.
func (m *Metrics) ObserveAppendLock(waited, held time.Duration) {
	m.appendLockWait.Observe(waited.Seconds())
	m.appendLockHold.Observe(held.Seconds())
}

// ProjectionApplied records that an event whose commit ended at committed
// became visible in the tickets read table now.
func (m *Metrics) ProjectionApplied(committed time.Time) {
	m.projectionLag.Observe(time.Since(committed).Seconds())
}

// IdempotencyReplayed records a command answered from its stored response.
func (m *Metrics) IdempotencyReplayed(route string) { m.idemReplays.WithLabelValues(route).Inc() }

// IdempotencyConflicted records a command refused because its key belongs
// to another request.
func (m *Metrics) IdempotencyConflicted(route string) { m.idemConflicts.WithLabelValues(route).Inc() }

// SSEStreamOpened records that a Server-Sent Events stream opened; call
// SSEStreamClosed when it ends.
func (m *Metrics) SSEStreamOpened() { m.sseStreams.Inc() }

// SSEStreamClosed records that a stream counted by SSEStreamOpened ended.
func (m *Metrics) SSEStreamClosed() { m.sseStreams.Dec() }

// WaitingReadStarted records that a read began to wait for its
// Ticketd-Min-Position; call WaitingReadEnded when it stops.
func (m *Metrics) WaitingReadStarted() { m.waitingReads.Inc() }

// WaitingReadEnded records that a read counted by WaitingReadStarted
// stopped waiting.
func (m *Metrics) WaitingReadEnded() { m.waitingReads.Dec() }

// WaitingReadRefused records a read refused because --max-waiting-reads
// reads were waiting.
func (m *Metrics) WaitingReadRefused() { m.readsRefused.Inc() }

// RecordBuild publishes ticketd_build_info{version,commit,goversion} 1, the
// build that is running. Call it once.
func (m *Metrics) RecordBuild(version, commit, goVersion string) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ticketd_build_info",
		Help:        "Always 1; the labels say which build of ticketd is running.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goVersion},
	}, func() float64 { return 1 }))
}

// RecordInstance publishes ticketd_instance_info{instance=id} 1, the name
// of this instance, and ticketd_projector_leader, 1 while leading reports
// true (this instance is the projector leader), else 0. Call it once.
func (m *Metrics) RecordInstance(id string, leading func() bool) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ticketd_instance_info",
		Help:        "Always 1; the label names this instance (--instance-id).",
		ConstLabels: prometheus.Labels{"instance": id},
	}, func() float64 { return 1 }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ticketd_projector_leader",
		Help: "1 while this instance is the projector leader (runs the projectors and relays), else 0; always 1 outside a cluster.",
	}, func() float64 {
		if leading() {
			return 1
		}
		return 0
	}))
}

// Log is what lag metrics read of the event log.
type Log interface {
	Head() int64
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
}

// Consumer follows the event log: a relay or a projection.
type Consumer interface {
	// Position returns the position of the last event it processed.
	Position() int64
}

// WatchLag adds the lag of each named consumer behind log's head, computed on
// every scrape. It fails when a name is registered already.
func (m *Metrics) WatchLag(log Log, consumers map[string]Consumer) error {
	return m.registry.Register(&lagCollector{log: log, consumers: consumers})
}

// lagReadTimeout bounds the read of a consumer's oldest unprocessed event
// during a scrape.
const lagReadTimeout = 2 * time.Second

var (
	lagEventsDesc = prometheus.NewDesc("ticketd_consumer_lag_events",
		"Events committed to the log that the consumer has not processed yet.", []string{"consumer"}, nil)
	lagSecondsDesc = prometheus.NewDesc("ticketd_consumer_lag_seconds",
		"Time since the oldest event the consumer has not processed was committed; 0 when it is caught up.", []string{"consumer"}, nil)
)

// lagCollector reports consumer lag in events and in seconds at scrape time.
type lagCollector struct {
	log       Log
	consumers map[string]Consumer
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEventsDesc
	ch <- lagSecondsDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagReadTimeout)
	defer cancel()
	for name, consumer := range c.consumers {
		pos := consumer.Position() // before the head, so the lag is never negative
		behind := max(c.log.Head()-pos, 0)
		ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(behind), name)
		age, err := c.oldestUnprocessedAge(ctx, pos, behind)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(lagSecondsDesc, fmt.Errorf("lag of %s: %w", name, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, age.Seconds(), name)
	}
}

// oldestUnprocessedAge returns how long ago the event after pos was
// committed, or 0 when none of the log is unprocessed.
func (c *lagCollector) oldestUnprocessedAge(ctx context.Context, pos, behind int64) (time.Duration, error) {
	if behind == 0 {
		return 0, nil
	}
	records, err := c.log.ReadAll(ctx, pos, 1)
	if err != nil {
		return 0, err
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("no event after position %d", pos)
	}
	return max(time.Since(records[0].OccurredAt), 0), nil
}

// Disk is what the disk headroom metrics read.
type Disk interface {
	// FreeBytes returns the bytes left on the database's filesystem.
	FreeBytes() (int64, error)
	// SizeBytes returns the bytes the database takes.
	SizeBytes() (int64, error)
}

// WatchDisk adds the free bytes on the database's filesystem and the
// database's size, measured on every scrape. It fails when they are
// registered already.
func (m *Metrics) WatchDisk(d Disk) error {
	return m.registry.Register(diskCollector{d})
}

var (
	diskFreeDesc = prometheus.NewDesc("ticketd_disk_free_bytes",
		"Bytes left for unprivileged writers on the filesystem holding the database; /readyz fails below --min-free-bytes.", nil, nil)
	databaseSizeDesc = prometheus.NewDesc("ticketd_database_size_bytes",
		"Bytes the database takes: its file, write-ahead log and shared-memory index.", nil, nil)
)

// diskCollector reports disk headroom at scrape time.
type diskCollector struct{ disk Disk }

func (c diskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskFreeDesc
	ch <- databaseSizeDesc
}

func (c diskCollector) Collect(ch chan<- prometheus.Metric) {
	for desc, measure := range map[*prometheus.Desc]func() (int64, error){diskFreeDesc: c.disk.FreeBytes, databaseSizeDesc: c.disk.SizeBytes} {
		n, err := measure()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n))
	}
}
