package httpapi

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/app"
)

// CommandRoutes are the routes of the commands, whose Idempotency-Key may
// replay or refuse them.
var CommandRoutes = []string{"/tickets/issue", "/tickets/refund"}

// Commands executes the API's commands (see package app).
type Commands interface {
	Issue(ctx context.Context, req app.Request, cmd domain.IssueTickets) (app.Result, error)
	Refund(ctx context.Context, req app.Request, cmd domain.RefundTickets) (app.Result, error)
}

// commandRequest is what ties a command to c's request.
func commandRequest(c *gin.Context, key string) app.Request {
	return app.Request{IdempotencyKey: key, RequestID: requestID(c), CorrelationID: correlationID(c)}
}

// respond answers a command once the read model reflects it, so every later
// GET sees its effect; when the read model is late the answer goes anyway,
// marked Ticketd-Consistency: pending, as the command is committed. A client
// gone while waiting is logged at INFO and counted as 499.
func (s *Server) respond(c *gin.Context, res app.Result, err error) {
	s.countReplay(c, res, err)
	if err != nil {
		s.setHeadPosition(c)
		writeError(c, s.cfg.Logger, err)
		return
	}
	setPosition(c, res.Position)
	if !res.Replayed {
		c.Set(logTicketsIssued, res.Issued)
		c.Set(logTicketsRefunded, res.Refunded)
	}
	switch s.awaitPosition(c, res.Position, s.tickets.WaitFor) {
	case clientGone:
		s.abortClientGone(c, "client gone after commit", res.Position)
		return
	case timedOut:
		s.cfg.Logger.Warn("command committed but read model lags", "request_id", requestID(c), "position", res.Position, "timeout", s.cfg.ConsistencyTimeout.String())
		c.Header(headerConsistency, "pending")
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	} else if res.Location != "" {
		c.Header("Location", res.Location)
	}
	c.Data(res.Status, "application/json; charset=utf-8", res.Body)
}

// countReplay counts an answer stored under its key, and a key refused as
// reused, in the metrics.
func (s *Server) countReplay(c *gin.Context, res app.Result, err error) {
	switch {
	case s.metrics == nil:
	case errors.Is(err, app.ErrKeyReused):
		s.metrics.IdempotencyConflicted(routeOf(c))
	case err == nil && res.Replayed:
		s.metrics.IdempotencyReplayed(routeOf(c))
	}
}
