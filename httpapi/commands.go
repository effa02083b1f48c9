package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/app"
)

// CommandRoutes are the routes of the commands, whose Idempotency-Key may
// replay or refuse them.
var CommandRoutes = []string{"/tickets/issue", "/tickets/refund", "/showings", "/showings/:showing_id/holds", "/holds/:hold_id"}

// Commands executes the API's commands (see package app).
type Commands interface {
	Issue(ctx context.Context, req app.Request, cmd domain.IssueTickets, answers app.AnswerEncoder[app.Issued]) (app.Outcome[app.Issued], error)
	Refund(ctx context.Context, req app.Request, cmd domain.RefundTickets, answers app.AnswerEncoder[domain.RefundDecision]) (app.Outcome[domain.RefundDecision], error)
	IssueForShowing(ctx context.Context, req app.Request, cmd domain.IssueShowingTickets, answers app.AnswerEncoder[app.Issued]) (app.Outcome[app.Issued], error)
	ScheduleShowing(ctx context.Context, req app.Request, cmd domain.ScheduleShowing, answers app.AnswerEncoder[app.Scheduled]) (app.Outcome[app.Scheduled], error)
	HoldSeats(ctx context.Context, req app.Request, showingID string, cmd domain.HoldSeats, answers app.AnswerEncoder[domain.Hold]) (app.Outcome[domain.Hold], error)
	ReleaseHold(ctx context.Context, req app.Request, id string, answers app.AnswerEncoder[domain.Hold]) (app.Outcome[domain.Hold], error)
}

// jsonAnswers answers a command's result R with status and the JSON of
// body(result), under the idempotency scope of its endpoint. Stored
// records carry the scope ("METHOD /path"): an endpoint never changes it.
type jsonAnswers[R any] struct {
	scope  string
	status int
	body   func(R) any
}

// Scope implements app.AnswerEncoder.
func (a jsonAnswers[R]) Scope() string { return a.scope }

// EncodeAnswer implements app.AnswerEncoder.
func (a jsonAnswers[R]) EncodeAnswer(result R) (app.Answer, error) {
	b, err := json.Marshal(a.body(result))
	if err != nil {
		return app.Answer{}, err
	}
	return app.Answer{Status: a.status, Body: b}, nil
}

const headerIdempotencyKey = "Idempotency-Key"

// maxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const maxIdempotencyKeyLen = 255

// idempotencyKey returns the request's Idempotency-Key ("" when absent),
// recording a violation when it is present but empty, repeated, longer than
// 255 characters or not visible ASCII.
func idempotencyKey(c *gin.Context, v *domain.Violations) string {
	key, sent := singleHeader(c, v, headerIdempotencyKey)
	if !sent {
		return ""
	}
	if key == "" || len(key) > maxIdempotencyKeyLen {
		v.Add(headerIdempotencyKey, fmt.Sprintf("must be 1 to %d characters", maxIdempotencyKeyLen))
		return ""
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			v.Add(headerIdempotencyKey, "must be visible ASCII characters (0x21-0x7E)")
			return ""
		}
	}
	return key
}

// parseCommand reads the body and the Idempotency-Key and hands the decoded
// object to parse. Every violation of body, fields and header is answered as
// one 400; ok is false when an answer was sent.
func (s *Server) parseCommand(c *gin.Context, fields []string, parse func(obj jsonObject, v *domain.Violations)) (key string, ok bool) {
	_, span := s.tracer.Start(c.Request.Context(), "ticketd.decode_request")
	defer span.End()
	body, ok := s.readBody(c)
	if !ok {
		return "", false
	}
	var v domain.Violations
	key = idempotencyKey(c, &v)
	if obj := decodeObject(body, &v); obj != nil {
		parse(obj, &v)
	}
	v.Sort(append([]string{headerIdempotencyKey, "body"}, fields...))
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return "", false
	}
	return key, true
}

// commandRequest is what ties a command to c's request.
func commandRequest(c *gin.Context, key string) app.Request {
	return app.Request{IdempotencyKey: key, RequestID: requestID(c), CorrelationID: correlationID(c)}
}

// respond answers a command once the read model reflects it, so every later
// GET sees its effect; when the read model is late the answer goes anyway,
// marked Ticketd-Consistency: pending, as the command is committed. A
// replayed answer is sent with 200 and Idempotent-Replayed: true, whatever
// its first status. A client gone while waiting is logged at INFO and
// counted as 499.
func (s *Server) respond(c *gin.Context, reply app.Reply, err error) {
	s.countReplay(c, reply, err)
	if err != nil {
		s.setHeadPosition(c)
		s.writeCommandError(c, err)
		return
	}
	setPosition(c, reply.Position)
	switch s.awaitPosition(c, reply.Position, s.waitForModels) {
	case clientGone:
		s.abortClientGone(c, "client gone after commit", reply.Position)
		return
	case timedOut:
		s.cfg.Logger.Warn("command committed but read model lags", "request_id", requestID(c), "position", reply.Position, "timeout", s.cfg.ConsistencyTimeout.String())
		c.Header(headerConsistency, "pending")
	}
	status := reply.Answer.Status
	if reply.Replayed {
		c.Header("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	c.Data(status, "application/json; charset=utf-8", reply.Answer.Body)
}

// waitForModels blocks until the read models commands change reflect the
// log up to pos, or ctx ends (returning ctx.Err()).
func (s *Server) waitForModels(ctx context.Context, pos int64) error {
	if err := s.tickets.WaitFor(ctx, pos); err != nil {
		return err
	}
	return s.showings.WaitFor(ctx, pos)
}

// writeCommandError answers a command's error: a reused Idempotency-Key is
// a 409 naming the endpoint the key belongs to, anything else as
// writeError maps it.
func (s *Server) writeCommandError(c *gin.Context, err error) {
	var reused *app.KeyReusedError
	switch {
	case !errors.As(err, &reused):
		writeError(c, s.cfg.Logger, err)
	case reused.OtherScope:
		writeProblem(c, kindConflict, fmt.Sprintf("%s %q was already used on %s.", headerIdempotencyKey, reused.Key, reused.Scope), nil)
	default:
		writeProblem(c, kindConflict, fmt.Sprintf("%s %q was already used with a different request.", headerIdempotencyKey, reused.Key), nil)
	}
}

// countReplay counts an answer stored under its key, and a key refused as
// reused, in the metrics.
func (s *Server) countReplay(c *gin.Context, reply app.Reply, err error) {
	var reused *app.KeyReusedError
	switch {
	case s.metrics == nil:
	case errors.As(err, &reused):
		s.metrics.IdempotencyConflicted(routeOf(c))
	case err == nil && reply.Replayed:
		s.metrics.IdempotencyReplayed(routeOf(c))
	}
}
