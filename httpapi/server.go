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
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// EventLog is what the API needs of the event store.
type EventLog interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error)
	ReadStreamUntil(ctx context.Context, streamID string, position int64) ([]eventstore.Record, error)
	ReadStreamAsOf(ctx context.Context, streamID string, t time.Time) ([]eventstore.Record, error)
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
	LookupIdempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, bool, error)
	Head() int64
	// HeadChanged returns the head and a channel closed when it next moves.
	HeadChanged() (int64, <-chan struct{})
}

// TicketReadModel is what the API needs of the tickets projection.
type TicketReadModel interface {
	Get(ctx context.Context, id string) (domain.Ticket, error)
	List(ctx context.Context, f projections.Filter) (projections.Page, error)
	// WaitFor blocks until the read model reflects the log up to pos.
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
	// NewID returns fresh ticket ids. Default: UUID version 7.
	NewID  func() uuid.UUID
	Logger *slog.Logger
	// ReadyMaxLag is how many events a consumer of the log may be behind its
	// head while GET /readyz answers ready. Default 1000.
	ReadyMaxLag int64
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
	// APIKeys turns access control on: every API route then needs a key of
	// a role allowed on it. Nil (the default) leaves the API open.
	APIKeys *APIKeys
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
	if c.NewID == nil {
		c.NewID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
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
}

// Auditor verifies a whole database: log, hash chain and read table.
type Auditor interface {
	Audit(ctx context.Context) (projections.AuditReport, error)
}

// Deps are the parts the API serves from.
type Deps struct {
	Log     EventLog
	Tickets TicketReadModel
	Sales   SalesReadModel
	Auditor Auditor
	// Metrics, when set, records every request and serves GET /metrics.
	Metrics Metrics
	// Readiness is what GET /readyz checks.
	Readiness Readiness
}

// Server is the HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	cfg       Config
	log       EventLog
	tickets   TicketReadModel
	sales     SalesReadModel
	auditor   Auditor
	metrics   Metrics
	readiness Readiness
	engine    *gin.Engine

	streamsClosed    chan struct{} // closed by CloseStreams
	closeStreamsOnce sync.Once
	streamMessages   *messageCache
}

// NewServer returns the API over deps.
func NewServer(deps Deps, cfg Config) *Server {
	cfg.setDefaults()
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: deps.Log, tickets: deps.Tickets, sales: deps.Sales, auditor: deps.Auditor,
		metrics: deps.Metrics, readiness: deps.Readiness, engine: gin.New(),
		streamsClosed: make(chan struct{}), streamMessages: newMessageCache(streamMessageCacheSize)}
	e := s.engine
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(s.withRequestID, s.withAccessLog)
	if s.metrics != nil {
		e.Use(s.withMetrics)
	}
	e.Use(s.withRecovery, s.withHeaderLimit)
	e.NoRoute(func(c *gin.Context) { writeProblem(c, kindNotFound, "No endpoint is at "+c.Request.URL.Path+".", nil) })
	e.NoMethod(func(c *gin.Context) {
		writeProblem(c, kindMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path+".", nil)
	})
	e.GET("/", s.root)
	e.POST("/tickets/issue", s.allow(clerksOnly...), s.issue)
	e.POST("/tickets/refund", s.allow(clerksOnly...), s.refund)
	e.GET("/tickets", s.allow(anyRole...), s.listTickets)
	e.GET("/tickets/:ticket_id", s.allow(anyRole...), s.getTicket)
	e.GET("/tickets/:ticket_id/events", s.allow(logReaders...), s.ticketEvents)
	e.GET("/events", s.allow(logReaders...), s.events)
	e.GET("/events/stream", s.allow(analystsOnly...), s.streamEvents)
	e.GET("/audit/verify", s.allow(auditorsOnly...), s.auditVerify)
	e.GET("/stats/sales", s.allow(analystsOnly...), s.salesStats)
	e.GET("/stats/timeline", s.allow(analystsOnly...), s.salesTimeline)
	registerDashboard(e)
	registerDocs(e)
	s.registerOperations(e)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

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
