package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Metrics receives the API's measurements and serves them. Its methods run
// on every request: they must be fast and safe for concurrent use.
type Metrics interface {
	// ObserveRequest records an answered request: its route (see routeOf),
	// status code and duration.
	ObserveRequest(route string, status int, took time.Duration)
	// IdempotencyReplayed records a command on route answered with the
	// stored response of its Idempotency-Key.
	IdempotencyReplayed(route string)
	// IdempotencyConflicted records a command on route refused because its
	// Idempotency-Key belongs to a different request.
	IdempotencyConflicted(route string)
	// SSEStreamOpened records that an event stream opened; SSEStreamClosed
	// that one ended.
	SSEStreamOpened()
	SSEStreamClosed()
	// WaitingReadStarted records that a read began to wait for its
	// Ticketd-Min-Position, WaitingReadEnded that one stopped waiting, and
	// WaitingReadRefused that one was refused because too many wait.
	WaitingReadStarted()
	WaitingReadEnded()
	WaitingReadRefused()
	// ReadinessChecked records the outcome of a check GET /readyz ran.
	ReadinessChecked(check string, failing bool)
	// Handler serves GET /metrics.
	Handler() http.Handler
}

// withMetrics records every request's route, status and duration.
func (s *Server) withMetrics(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.metrics.ObserveRequest(routeOf(c), c.Writer.Status(), time.Since(start))
}
