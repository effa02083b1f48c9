package httpapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/watermark"
)

// Headers of the consistency token. Every command answers the log position
// it committed at (the head, for one that appended nothing) in
// Ticketd-Position, and Ticketd-Consistency: pending when the read model had
// not reached it in time. A read that sends Ticketd-Min-Position waits until
// what it reads from has reached that position.
const (
	headerPosition    = "Ticketd-Position"
	headerConsistency = "Ticketd-Consistency"
	headerMinPosition = "Ticketd-Min-Position"
)

// statusClientClosedRequest is the status logged and counted for a request
// whose client went away before it could be answered (nginx's 499). No
// client ever receives it.
const statusClientClosedRequest = 499

// waitOutcome is how a bounded wait for a position ended.
type waitOutcome int

const (
	reached waitOutcome = iota
	timedOut
	clientGone
)

// setPosition sets the Ticketd-Position header of the answer to pos.
func setPosition(c *gin.Context, pos int64) {
	c.Header(headerPosition, strconv.FormatInt(pos, 10))
}

// setHeadPosition sets Ticketd-Position to the current log head, the answer
// of a command that appended nothing.
func (s *Server) setHeadPosition(c *gin.Context) { setPosition(c, s.log.Head()) }

// minPosition returns the request's Ticketd-Min-Position, 0 when absent,
// recording a violation when it is repeated or not a base-10 integer of at
// least 0.
func minPosition(c *gin.Context, v *domain.Violations) int64 {
	raw, sent := singleHeader(c, v, headerMinPosition)
	if !sent {
		return 0
	}
	pos, err := strconv.ParseUint(raw, 10, 63)
	if err != nil {
		v.Add(headerMinPosition, "must be a log position: an integer of at least 0")
		return 0
	}
	return int64(pos)
}

// awaitPosition waits, at most Config.ConsistencyTimeout, until wait returns
// for pos. It reports clientGone when the request's own context ended first.
func (s *Server) awaitPosition(c *gin.Context, pos int64, wait func(ctx context.Context, pos int64) error) waitOutcome {
	if pos <= 0 {
		return reached
	}
	ctx, span := s.tracer.Start(c.Request.Context(), "ticketd.await_position", trace.WithAttributes(attribute.Int64("ticketd.position", pos)))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConsistencyTimeout)
	defer cancel()
	switch {
	case wait(ctx, pos) == nil:
		return reached
	case c.Request.Context().Err() != nil:
		span.SetStatus(codes.Error, "client gone")
		return clientGone
	}
	span.SetStatus(codes.Error, "timed out")
	return timedOut
}

// awaitMinPosition holds a read until wait reports the request's
// Ticketd-Min-Position reached. When it is not reached in time it answers 503
// (or records a gone client) and returns false. A read that has to wait
// takes one of Config.MaxWaitingReads slots while it waits; when none is
// free it is answered 503 at once, so parked reads cannot pile up without
// bound. wait must return nil at once for a position already reached, even
// with an ended context (as a watermark's WaitFor does).
func (s *Server) awaitMinPosition(c *gin.Context, pos int64, wait func(ctx context.Context, pos int64) error) bool {
	if pos <= 0 || reachedNow(pos, wait) {
		return true
	}
	release, ok := tryTake(s.waitingReads)
	if !ok {
		if s.metrics != nil {
			s.metrics.WaitingReadRefused()
		}
		writeProblem(c, kindUnavailable, fmt.Sprintf("%d reads are already waiting for their %s, as many as the service holds; retry later.", s.cfg.MaxWaitingReads, headerMinPosition), nil)
		return false
	}
	defer release()
	if s.metrics != nil {
		s.metrics.WaitingReadStarted()
		defer s.metrics.WaitingReadEnded()
	}
	switch s.awaitPosition(c, pos, wait) {
	case timedOut:
		writeProblem(c, kindUnavailable, fmt.Sprintf("The data this request reads has not reached log position %d (%s) within %s; retry.", pos, headerMinPosition, s.cfg.ConsistencyTimeout), nil)
		return false
	case clientGone:
		s.abortClientGone(c, "client gone while waiting for its position", pos)
		return false
	}
	return true
}

// reachedNow reports whether wait finds pos reached without waiting.
func reachedNow(pos int64, wait func(ctx context.Context, pos int64) error) bool {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	return wait(ended, pos) == nil
}

// waitForHead blocks until the log's head is at least pos, or ctx ends
// (returning ctx.Err()): reads folded from the log wait on it.
func (s *Server) waitForHead(ctx context.Context, pos int64) error {
	return watermark.WaitUntil(ctx, pos, s.log.HeadChanged)
}

// abortClientGone logs msg at INFO for a request whose client went away while
// it waited for pos, and ends it with statusClientClosedRequest, so the access
// log and metrics count no failure of the service.
func (s *Server) abortClientGone(c *gin.Context, msg string, pos int64) {
	s.cfg.Logger.Info(msg, "request_id", requestID(c), "route", routeOf(c), "position", pos)
	c.AbortWithStatus(statusClientClosedRequest)
}
