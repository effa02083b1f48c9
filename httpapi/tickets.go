package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// singleHeader returns the request's header name and whether it was sent
// exactly once, recording a violation when it was repeated.
func singleHeader(c *gin.Context, v *domain.Violations, name string) (string, bool) {
	values, sent := c.Request.Header[http.CanonicalHeaderKey(name)]
	if !sent {
		return "", false
	}
	if len(values) != 1 {
		v.Add(name, "must be sent once")
		return "", false
	}
	return values[0], true
}

// getTicket answers a ticket from the read table or, with as_of, folded from
// its stream as it was at that point of the log. A Ticketd-Min-Position is
// awaited on the read table, or on the log head for as_of.
func (s *Server) getTicket(c *gin.Context) {
	var v domain.Violations
	minPos := minPosition(c, &v)
	point, historic := parseAsOf(queryValues(c.Request).Get("as_of"), &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	id, ok := s.ticketParam(c)
	if !ok {
		return
	}
	if historic {
		s.getTicketAsOf(c, id, point, minPos)
		return
	}
	if !s.awaitMinPosition(c, minPos, s.tickets.WaitFor) {
		return
	}
	t, err := s.tickets.Get(c.Request.Context(), id)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	c.JSON(http.StatusOK, newTicketJSON(t))
}

// ticketParam returns the ticket_id of the path, or answers 404 and returns
// false when it cannot name a ticket: only canonical UUIDs do (see
// domain.IsTicketID), and the others are not looked up at all.
func (s *Server) ticketParam(c *gin.Context) (string, bool) {
	id := c.Param("ticket_id")
	if !domain.IsTicketID(id) {
		writeError(c, s.cfg.Logger, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id))
		return "", false
	}
	return id, true
}

// asOf is a point of the log, as sent in as_of: right after a position, or
// at a time when byTime.
type asOf struct {
	raw      string
	position int64
	time     time.Time
	byTime   bool
}

// parseAsOf reads the as_of query parameter; given is false when it is absent
// or empty. It records a violation when it is neither a log position nor an
// RFC 3339 time.
func parseAsOf(raw string, v *domain.Violations) (point asOf, given bool) {
	if raw == "" {
		return asOf{}, false
	}
	pos, perr := strconv.ParseInt(raw, 10, 64)
	if perr == nil && pos >= 0 {
		return asOf{raw: raw, position: pos}, true
	}
	if at, terr := domain.ParseTime(raw); perr != nil && terr == nil {
		return asOf{raw: raw, time: at, byTime: true}, true
	}
	v.Add("as_of", "must be a log position (an integer of at least 0) or an RFC 3339 time in the years 0000 to 9999")
	return asOf{}, true
}

// getTicketAsOf answers the ticket as it was at point, folded from its stream
// (not the read table).
func (s *Server) getTicketAsOf(c *gin.Context, id string, point asOf, minPos int64) {
	if !s.awaitMinPosition(c, minPos, s.waitForHead) {
		return
	}
	ctx := c.Request.Context()
	var records []eventstore.Record
	var err error
	if point.byTime {
		records, err = s.log.ReadStreamAsOf(ctx, id, point.time)
	} else {
		records, err = s.log.ReadStreamUntil(ctx, id, point.position)
	}
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	t, err := eventstore.Fold(records)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	if !t.Exists() {
		writeError(c, s.cfg.Logger, domain.Errorf(domain.CodeNotFound, "Ticket %q did not exist as of %s.", id, point.raw))
		return
	}
	c.JSON(http.StatusOK, newTicketJSON(t))
}

// List paging bounds of the contract.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

func (s *Server) listTickets(c *gin.Context) {
	q := queryValues(c.Request)
	var v domain.Violations
	f := projections.Filter{
		TheaterName: q.Get("theater_name"),
		UserID:      q.Get("user_id"),
		MovieTitle:  q.Get("movie_title"),
		Limit:       int(queryInt(q, &v, "limit", defaultListLimit, 1, maxListLimit)),
		Offset:      int(queryInt(q, &v, "offset", 0, 0, math.MaxInt64)),
	}
	if raw := q.Get("status"); raw != "" {
		status, ok := domain.ParseStatus(raw)
		if !ok {
			v.Add("status", "must be one of issued, canceled")
		}
		f.Status = status
	}
	minPos := minPosition(c, &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	if !s.awaitMinPosition(c, minPos, s.tickets.WaitFor) {
		return
	}
	page, err := s.tickets.List(c.Request.Context(), f)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	tickets := make([]ticketJSON, len(page.Tickets))
	for i, t := range page.Tickets {
		tickets[i] = newTicketJSON(t)
	}
	c.JSON(http.StatusOK, ticketListJSON{Tickets: tickets, Total: page.Total, Limit: f.Limit, Offset: f.Offset})
}

// queryInt returns the integer query parameter name, def when it is absent or
// empty, and records a violation when it is not a base-10 integer in [lo, hi].
func queryInt(q url.Values, v *domain.Violations, name string, def, lo, hi int64) int64 {
	raw := q.Get(name)
	if raw == "" {
		return def
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	switch {
	case (err != nil || n < lo) && hi == math.MaxInt64:
		v.Add(name, fmt.Sprintf("must be an integer of at least %d", lo))
		return def
	case err != nil || n < lo || n > hi:
		v.Add(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

// ticketListJSON is the body of a list query, in the seed's field order.
type ticketListJSON struct {
	Tickets []ticketJSON `json:"tickets"`
	Total   int64        `json:"total"`
	Limit   int          `json:"limit"`
	Offset  int          `json:"offset"`
}

// ticketJSON is the ticket representation of the contract.
type ticketJSON struct {
	ID          string  `json:"id"`
	TheaterName string  `json:"theater_name"`
	UserID      string  `json:"user_id"`
	MovieTitle  string  `json:"movie_title"`
	PriceKRW    int64   `json:"price_krw"`
	Status      string  `json:"status"`
	Memo        *string `json:"memo"`
	IssuedAt    string  `json:"issued_at"`
	CanceledAt  *string `json:"canceled_at"`
	ShowingID   *string `json:"showing_id"`
}

func newTicketJSON(t domain.Ticket) ticketJSON {
	j := ticketJSON{
		ID: t.ID, TheaterName: t.TheaterName, UserID: t.UserID, MovieTitle: t.MovieTitle,
		PriceKRW: t.PriceKRW, Status: string(t.Status), Memo: t.Memo, IssuedAt: domain.FormatTime(t.IssuedAt), ShowingID: t.ShowingID,
	}
	if t.CanceledAt != nil {
		at := domain.FormatTime(*t.CanceledAt)
		j.CanceledAt = &at
	}
	return j
}
