// Package httpapi serves ticketd's HTTP API with Gin: commands that append to
// the event log, queries answered from the tickets projection, the event log
// itself, problem+json errors and the OpenAPI document with its docs pages.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/projections"
)

// EventLog is what the API needs of the event store.
type EventLog interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	ReadStreamUntil(ctx context.Context, streamID string, position int64) ([]eventstore.Record, error)
	ReadStreamAsOf(ctx context.Context, streamID string, t time.Time) ([]eventstore.Record, error)
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	// ReadStored is ReadAll from the database alone, never from memory.
	ReadStored(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	LookupIdempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, bool, error)
	Head() int64
	// LogHead returns the last event's position and hash, read together;
	// 0 and eventstore.GenesisHash for an empty log.
	LogHead() (position int64, hash string)
	// HeadChanged returns the head and a channel closed when it next moves.
	HeadChanged() (int64, <-chan struct{})
}

// TicketReadModel is what the API needs of the tickets projection.
type TicketReadModel interface {
	Get(ctx context.Context, id string) (domain.Ticket, error)
	List(ctx context.Context, f projections.Filter) (projections.Page, error)
	// WaitFor blocks until the read model reflects the log up to pos; it
	// returns nil at once when it does, even for an ended ctx.
	WaitFor(ctx context.Context, pos int64) error
}

// Config configures a Server. The zero value gets the defaults of the contract.
type Config struct {
	// BodyLimit is the largest request body accepted; larger gets 413. Default 64 KiB.
	BodyLimit int64
	// MaxHeaderBytes is the largest request line and header block accepted;
	// larger gets 431. Default 64 KiB. The http.Server must read up to
	// HeaderReadLimit(MaxHeaderBytes) for the API to see such requests.
	MaxHeaderBytes int
	// ConsistencyTimeout bounds how long a command waits for the read model to
	// reflect it before answering with Ticketd-Consistency: pending, and how
	// long a read waits for its Ticketd-Min-Position before answering 503.
	// Default 5s.
	ConsistencyTimeout time.Duration
	Logger             *slog.Logger
	// ReadyMaxLag is how many events a consumer of the log may be behind its
	// head while GET /readyz answers ready. Default 1000.
	ReadyMaxLag int64
	// MinFreeBytes is how much free space Readiness.Disk must have while
	// GET /readyz answers ready. 0 (the default) only requires it to be
	// measurable.
	MinFreeBytes int64
	// StreamHeartbeat is how often an idle event stream sends a comment.
	// Default 15s.
	StreamHeartbeat time.Duration
	// StreamPageSize is how many events an event stream reads from the log
	// at a time, which bounds its memory. Default 100.
	StreamPageSize int
	// StreamStallTimeout is how long an event stream waits for its client
	// to take what it writes before it gives up. Default 1m.
	StreamStallTimeout time.Duration
	// StreamLinger bounds a caught-up event stream to one write per
	// interval: after sending it lets new commits gather that long, and a
	// commit that wakes it idle is sent after a random part of it, so that
	// many streams neither write once per commit nor all at once.
	// Default 200ms.
	StreamLinger time.Duration
	// MaxStreams bounds the open GET /events/stream connections; one more
	// is 503 with Retry-After. Default 1000.
	MaxStreams int
	// MaxWaitingReads bounds the reads waiting for their
	// Ticketd-Min-Position at once; one more that would wait is 503 with
	// Retry-After. Default 10,000.
	MaxWaitingReads int
	// StreamWriteBuffer is the socket send buffer, in bytes, of a
	// connection that serves an event stream, which bounds the kernel
	// memory a stalled reader pins. Default 32 KiB.
	StreamWriteBuffer int
	// CORSOrigins are the origins whose web pages may call the API, as
	// ParseCORSOrigins returns them ("*": every origin). Empty (the
	// default) sends no CORS headers.
	CORSOrigins []string
	// APIKeys turns access control on: every API route then needs a key of
	// a role allowed on it. Nil (the default) leaves the API open.
	APIKeys *APIKeys
	// TracerProvider traces requests (but the probes and /metrics), their
	// decoding and their waits for a position. Default: records nothing.
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context a request continues. Default: W3C
	// traceparent/tracestate and baggage.
	Propagator propagation.TextMapPropagator
}

func (c *Config) setDefaults() {
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = 64 << 10
	}
	if c.ConsistencyTimeout <= 0 {
		c.ConsistencyTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReadyMaxLag <= 0 {
		c.ReadyMaxLag = 1000
	}
	if c.StreamHeartbeat <= 0 {
		c.StreamHeartbeat = 15 * time.Second
	}
	if c.StreamPageSize <= 0 {
		c.StreamPageSize = 100
	}
	if c.StreamStallTimeout <= 0 {
		c.StreamStallTimeout = time.Minute
	}
	if c.StreamLinger <= 0 {
		c.StreamLinger = 200 * time.Millisecond
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 1000
	}
	if c.MaxWaitingReads <= 0 {
		c.MaxWaitingReads = 10_000
	}
	if c.StreamWriteBuffer <= 0 {
		c.StreamWriteBuffer = 32 << 10
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
}

// Auditor verifies a whole database: log, hash chain and read table.
type Auditor interface {
	Audit(ctx context.Context) (projections.AuditReport, error)
}

// Deps are the parts the API serves from.
type Deps struct {
	Log EventLog
	// Commands executes issues and refunds; default app.New(Log, nil).
	Commands Commands
	Tickets  TicketReadModel
	Sales    SalesReadModel
	Showings ShowingReadModel
	Auditor  Auditor
	// Metrics, when set, records every request and serves GET /metrics.
	Metrics Metrics
	// Readiness is what GET /readyz checks.
	Readiness Readiness
}

// Server is the HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	cfg       Config
	log       EventLog
	commands  Commands
	tickets   TicketReadModel
	sales     SalesReadModel
	showings  ShowingReadModel
	auditor   Auditor
	metrics   Metrics
	readiness Readiness
	engine    *gin.Engine
	tracer    trace.Tracer

	streamsClosed    chan struct{} // closed by CloseStreams
	closeStreamsOnce sync.Once
	streamMessages   *messageCache
	streamSlots      chan struct{} // one taken by every open event stream
	waitingReads     chan struct{} // one taken by every read waiting for its Ticketd-Min-Position
	parquetSlots     chan struct{} // one taken by every running Parquet export
	auditRunning     chan struct{} // full while an audit runs
}

// NewServer returns the API over deps.
func NewServer(deps Deps, cfg Config) *Server {
	cfg.setDefaults()
	gin.SetMode(gin.ReleaseMode)
	if deps.Commands == nil {
		deps.Commands = app.New(deps.Log, nil)
	}
	s := &Server{cfg: cfg, log: deps.Log, commands: deps.Commands, tickets: deps.Tickets, sales: deps.Sales, showings: deps.Showings, auditor: deps.Auditor,
		metrics: deps.Metrics, readiness: deps.Readiness, engine: gin.New(), tracer: cfg.TracerProvider.Tracer(tracerName),
		streamsClosed: make(chan struct{}), streamMessages: newMessageCache(streamMessageCacheSize),
		streamSlots: make(chan struct{}, cfg.MaxStreams), waitingReads: make(chan struct{}, cfg.MaxWaitingReads), parquetSlots: make(chan struct{}, maxParquetExports),
		auditRunning: make(chan struct{}, 1)}
	e := s.engine
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false // its redirects have HTML bodies; ServeHTTP drops trailing slashes instead
	e.ContextWithFallback = true
	// Routes match the path as sent, so an encoded slash (/tickets%2fissue)
	// is not a separator.
	e.UseRawPath = true
	e.Use(withTraceContext(cfg.TracerProvider, cfg.Propagator))
	e.Use(s.withRequestID, s.withAccessLog)
	if s.metrics != nil {
		e.Use(s.withMetrics)
	}
	e.Use(s.withRecovery, s.withHeaderLimit, withoutSmuggling, s.withCORS)
	e.NoRoute(func(c *gin.Context) { writeProblem(c, kindNotFound, "No endpoint is at "+c.Request.URL.Path+".", nil) })
	e.NoMethod(func(c *gin.Context) {
		writeProblem(c, kindMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path+".", nil)
	})
	r := getAndHead{e}
	r.GET("/", s.root)
	r.POST("/tickets/issue", s.allow(clerksOnly...), requireJSON, s.issue)
	r.POST("/tickets/refund", s.allow(clerksOnly...), requireJSON, s.refund)
	r.GET("/tickets", s.allow(anyRole...), s.listTickets)
	r.GET("/tickets/:ticket_id", s.allow(anyRole...), s.getTicket)
	r.GET("/tickets/:ticket_id/events", s.allow(logReaders...), s.ticketEvents)
	r.POST("/showings", s.allow(managersOnly...), requireJSON, s.scheduleShowing)
	r.GET("/showings", s.allow(anyRole...), s.listShowings)
	r.GET("/showings/:showing_id", s.allow(anyRole...), s.getShowing)
	r.POST("/showings/:showing_id/holds", s.allow(clerksOnly...), requireJSON, s.holdSeats)
	r.GET("/holds/:hold_id", s.allow(anyRole...), s.getHold)
	r.DELETE("/holds/:hold_id", s.allow(clerksOnly...), s.releaseHold)
	r.GET("/events", s.allow(logReaders...), s.events)
	r.GET("/events/stream", s.allow(analystsOnly...), s.streamEvents)
	r.GET("/events/export.parquet", s.allow(analystsOnly...), s.eventsParquet)
	r.GET("/audit/verify", s.allow(auditorsOnly...), s.auditVerify)
	r.GET("/audit/head", s.allow(auditorsOnly...), s.auditHead)
	r.GET("/stats/sales", s.allow(analystsOnly...), s.salesStats)
	r.GET("/stats/timeline", s.allow(analystsOnly...), s.salesTimeline)
	registerDashboard(r)
	registerDocs(r, cfg.APIKeys != nil)
	s.registerOperations(r)
	return s
}

// Routes returns the path pattern of every route, each once, as the metrics
// and the access log name them (see routeOf).
func (s *Server) Routes() []string {
	var paths []string
	for _, r := range s.engine.Routes() {
		if !slices.Contains(paths, r.Path) {
			paths = append(paths, r.Path)
		}
	}
	return paths
}

// getAndHead registers every GET route for HEAD too, with the same handlers:
// HEAD is answered as GET (status and headers) and net/http drops the body.
type getAndHead struct{ gin.IRoutes }

func (r getAndHead) GET(path string, handlers ...gin.HandlerFunc) gin.IRoutes {
	r.IRoutes.HEAD(path, handlers...)
	return r.IRoutes.GET(path, handlers...)
}

// ServeHTTP implements http.Handler. A path with trailing slashes is answered
// as the path without them (/tickets/ as /tickets).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, withoutTrailingSlashes(r))
}

// withoutTrailingSlashes returns r, or a shallow copy of r whose path has no
// trailing slashes when it had some (other than the root path).
func withoutTrailingSlashes(r *http.Request) *http.Request {
	path := strings.TrimRight(r.URL.Path, "/")
	if path == r.URL.Path || path == "" {
		return r
	}
	u := *r.URL
	u.Path, u.RawPath = path, strings.TrimRight(u.RawPath, "/")
	trimmed := r.WithContext(r.Context())
	trimmed.URL = &u
	return trimmed
}

func (s *Server) root(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "message": "ticketd: movie ticketing API. Documentation at /docs, /redoc and /openapi.json."})
}

// readBody returns the request body, answering 413 (and false) when it is
// over the limit.
func (s *Server) readBody(c *gin.Context) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		writeProblem(c, kindTooLarge, fmt.Sprintf("The request body must be at most %d bytes.", s.cfg.BodyLimit), nil)
		return nil, false
	}
	if c.Request.ContentLength > s.cfg.BodyLimit {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.BodyLimit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return tooLarge()
	case err != nil:
		writeProblem(c, kindValidation, "The request body could not be read.", []domain.FieldError{{Field: "body", Message: "could not be read"}})
		return nil, false
	}
	return body, true
}
