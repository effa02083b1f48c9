package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/tracing"
)

// Endpoint names stored with idempotency records; a key belongs to one.
const (
	endpointIssue  = "POST /tickets/issue"
	endpointRefund = "POST /tickets/refund"
)

// CommandRoutes are the routes of the commands, whose Idempotency-Key may
// replay or refuse them.
var CommandRoutes = []string{"/tickets/issue", "/tickets/refund"}

// maxRefundAttempts bounds how often a refund reloads and decides again after
// losing an optimistic-concurrency race.
const maxRefundAttempts = 20

// commandResult is a command's HTTP answer, as sent and as stored under its
// idempotency key.
type commandResult struct {
	status   int
	body     []byte
	position int64 // the log position it committed at (or the head): Ticketd-Position
	replayed bool
	location string
	issued   int
	refunded int
}

// command is one decided-and-encoded attempt of a command: what to append and
// what to answer once it is committed.
type command struct {
	append   eventstore.AppendRequest
	status   int
	response any
	location string
	issued   int
	refunded int
}

// runCommand executes a validated command, parsed (defaults applied), exactly
// once per idempotency key:
// a stored key is replayed (same request) or refused (different request);
// otherwise decide builds the append, and a lost concurrency race re-decides.
func (s *Server) runCommand(c *gin.Context, endpoint, key string, parsed any, decide func(ctx context.Context) (command, error)) (commandResult, error) {
	ctx := c.Request.Context()
	var fingerprint string
	if key != "" {
		fingerprint = requestFingerprint(endpoint, parsed)
		rec, found, err := s.log.LookupIdempotency(ctx, key)
		if err != nil {
			return commandResult{}, err
		}
		if found {
			return s.replay(c, rec, endpoint, fingerprint)
		}
	}
	for attempt := 1; ; attempt++ {
		cmd, err := decide(ctx)
		if err != nil {
			return commandResult{}, err
		}
		body, err := json.Marshal(cmd.response)
		if err != nil {
			return commandResult{}, fmt.Errorf("encode response: %w", err)
		}
		cmd.append.Metadata = eventstore.Metadata{RequestID: requestID(c), CorrelationID: correlationID(c), IdempotencyKey: key}
		cmd.append.Metadata.Traceparent, cmd.append.Metadata.Tracestate = tracing.Traceparent(ctx)
		if key != "" {
			cmd.append.Idempotency = &eventstore.IdempotencyRecord{Key: key, Endpoint: endpoint, Fingerprint: fingerprint, Status: cmd.status, Body: body}
		}
		res, err := s.appendOrObserve(ctx, cmd.append)
		var taken *eventstore.KeyTakenError
		switch {
		case errors.As(err, &taken):
			return s.replay(c, taken.Existing, endpoint, fingerprint)
		case errors.Is(err, eventstore.ErrConcurrency) && attempt < maxRefundAttempts:
			continue
		case errors.Is(err, eventstore.ErrConcurrency):
			return commandResult{}, domain.Errorf(domain.CodeUnavailable, "The tickets are being changed by many requests at once; retry.")
		case err != nil:
			return commandResult{}, err
		}
		return commandResult{status: cmd.status, body: body, position: res.Position,
			location: cmd.location, issued: cmd.issued, refunded: cmd.refunded}, nil
	}
}

// respond answers a command once the read model reflects it, so every later
// GET sees its effect; when the read model is late the answer goes anyway,
// marked Ticketd-Consistency: pending, as the command is committed. A client
// gone while waiting is logged at INFO and counted as 499.
func (s *Server) respond(c *gin.Context, res commandResult, err error) {
	if err != nil {
		s.setHeadPosition(c)
		writeError(c, s.cfg.Logger, err)
		return
	}
	setPosition(c, res.position)
	if !res.replayed {
		c.Set(logTicketsIssued, res.issued)
		c.Set(logTicketsRefunded, res.refunded)
	}
	switch s.awaitPosition(c, res.position, s.tickets.WaitFor) {
	case clientGone:
		s.abortClientGone(c, "client gone after commit", res.position)
		return
	case timedOut:
		s.cfg.Logger.Warn("command committed but read model lags", "request_id", requestID(c), "position", res.position, "timeout", s.cfg.ConsistencyTimeout.String())
		c.Header(headerConsistency, "pending")
	}
	if res.replayed {
		c.Header("Idempotent-Replayed", "true")
	} else if res.location != "" {
		c.Header("Location", res.location)
	}
	c.Data(res.status, "application/json; charset=utf-8", res.body)
}

// appendOrObserve appends req; a request with nothing to append or store
// commits nothing and only needs the read model to reach the current head.
func (s *Server) appendOrObserve(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if len(req.Streams) == 0 && req.Idempotency == nil {
		return eventstore.AppendResult{Position: s.log.Head()}, nil
	}
	return s.log.Append(ctx, req)
}

// replay answers a request whose key is stored, as storedAnswer does, and
// counts the outcome.
func (s *Server) replay(c *gin.Context, rec eventstore.IdempotencyRecord, endpoint, fingerprint string) (commandResult, error) {
	res, err := storedAnswer(rec, endpoint, fingerprint)
	switch {
	case s.metrics == nil:
	case err != nil:
		s.metrics.IdempotencyConflicted(routeOf(c))
	default:
		s.metrics.IdempotencyReplayed(routeOf(c))
	}
	return res, err
}

// storedAnswer answers a request whose key is stored: the stored body with 200
// when endpoint and request match, else a CodeConflict error.
func storedAnswer(rec eventstore.IdempotencyRecord, endpoint, fingerprint string) (commandResult, error) {
	if rec.Endpoint != endpoint {
		return commandResult{}, domain.Errorf(domain.CodeConflict, "Idempotency-Key %q was already used on %s.", rec.Key, rec.Endpoint)
	}
	if rec.Fingerprint != fingerprint {
		return commandResult{}, domain.Errorf(domain.CodeConflict, "Idempotency-Key %q was already used with a different request.", rec.Key)
	}
	return commandResult{status: http.StatusOK, body: rec.Body, position: rec.Position, replayed: true}, nil
}

// fingerprint identifies a parsed request (after defaults), so a retry with
// reordered keys or other whitespace matches and any change in meaning does not.
func requestFingerprint(endpoint string, parsed any) string {
	b, err := json.Marshal(parsed)
	if err != nil {
		panic(fmt.Sprintf("fingerprint: %v", err)) // parsed commands are plain data
	}
	sum := sha256.Sum256(append([]byte(endpoint+"\n"), b...))
	return hex.EncodeToString(sum[:])
}

// issueResponse is the body of a successful issue.
type issueResponse struct {
	TicketIDs []string     `json:"ticket_ids"`
	Count     int          `json:"count"`
	Summary   issueSummary `json:"summary"`
}

type issueSummary struct {
	TheaterName string `json:"theater_name"`
	MovieTitle  string `json:"movie_title"`
	PriceKRW    int64  `json:"price_krw"`
}

// decideIssue returns the append and answer of an issue command.
func (s *Server) decideIssue(cmd domain.IssueTickets) (command, error) {
	tickets, err := domain.Issue(cmd, s.cfg.NewID)
	if err != nil {
		return command{}, err
	}
	resp := issueResponse{
		TicketIDs: make([]string, len(tickets)),
		Count:     len(tickets),
		Summary:   issueSummary{TheaterName: cmd.TheaterName, MovieTitle: cmd.MovieTitle, PriceKRW: cmd.PriceKRW},
	}
	req := eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(tickets))}
	for i, t := range tickets {
		resp.TicketIDs[i] = t.ID
		req.Streams[i] = eventstore.StreamAppend{StreamID: t.ID, ExpectedVersion: 0, Events: []domain.Event{t.Event}}
	}
	return command{append: req, status: http.StatusCreated, response: resp,
		location: "/tickets/" + resp.TicketIDs[0], issued: len(tickets)}, nil
}

// refundResponse is the body of a refund.
type refundResponse struct {
	Refunded        []string `json:"refunded"`
	AlreadyCanceled []string `json:"already_canceled"`
	NotFound        []string `json:"not_found"`
}

// decideRefund loads the current state of every named ticket and returns the
// append (expecting the versions it saw) and answer of a refund command.
func (s *Server) decideRefund(ctx context.Context, cmd domain.RefundTickets) (command, error) {
	tickets := make(map[string]domain.Ticket)
	for _, id := range cmd.DistinctIDs() {
		records, err := s.log.ReadStream(ctx, id)
		if err != nil {
			return command{}, err
		}
		t, err := eventstore.Fold(records)
		if err != nil {
			return command{}, err
		}
		if t.Exists() {
			tickets[id] = t
		}
	}
	d, err := domain.Refund(cmd, tickets)
	if err != nil {
		return command{}, err
	}
	req := eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(d.Refunded))}
	for i, id := range d.Refunded {
		req.Streams[i] = eventstore.StreamAppend{StreamID: id, ExpectedVersion: tickets[id].Version, Events: []domain.Event{d.Events[i]}}
	}
	resp := refundResponse{Refunded: d.Refunded, AlreadyCanceled: d.AlreadyCanceled, NotFound: d.NotFound}
	return command{append: req, status: http.StatusOK, response: resp, refunded: len(d.Refunded)}, nil
}
