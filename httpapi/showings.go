package httpapi

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/projections"
)

// ShowingReadModel is what the API needs of the showings read model.
type ShowingReadModel interface {
	Showing(ctx context.Context, id string) (projections.ShowingView, error)
	List(ctx context.Context, f projections.ShowingFilter) (projections.ShowingPage, error)
	Hold(ctx context.Context, id string) (domain.Hold, error)
	// Now is the clock the model reads, which a hold's status is read at.
	Now() time.Time
	// WaitFor blocks until the read model reflects the log up to pos; it
	// returns nil at once when it does, even for an ended ctx.
	WaitFor(ctx context.Context, pos int64) error
}

// Answers of the showings' commands; their scopes never change.
var (
	scheduleAnswers = jsonAnswers[app.Scheduled]{scope: "POST /showings", status: http.StatusCreated,
		body: func(r app.Scheduled) any { return newScheduledJSON(r.Showing) }}
	holdAnswers = jsonAnswers[domain.Hold]{scope: "POST /showings/{showing_id}/holds", status: http.StatusCreated,
		body: func(h domain.Hold) any { return newHoldJSON(h, h.Status) }}
	releaseAnswers = jsonAnswers[domain.Hold]{scope: "DELETE /holds/{hold_id}", status: http.StatusOK,
		body: func(h domain.Hold) any { return newHoldJSON(h, h.Status) }}
)

func (s *Server) scheduleShowing(c *gin.Context) {
	s.setHeadPosition(c)
	var cmd domain.ScheduleShowing
	key, ok := s.parseCommand(c, domain.ScheduleFields, func(obj jsonObject, v *domain.Violations) {
		cmd = domain.ScheduleShowing{
			TheaterName: obj.text(v, "theater_name"),
			MovieTitle:  obj.text(v, "movie_title"),
			StartsAt:    obj.text(v, "starts_at"),
			Capacity:    obj.integer(v, "capacity", true, 0),
			PriceKRW:    obj.integer(v, "price_krw", true, 0),
		}
		cmd.PerBuyerLimit = obj.optionalInteger(v, "per_buyer_limit")
		v.Merge(cmd.Validate(s.showings.Now()))
	})
	if !ok {
		return
	}
	out, err := s.commands.ScheduleShowing(c.Request.Context(), commandRequest(c, key), cmd, scheduleAnswers)
	if err == nil && !out.Replayed {
		c.Header("Location", "/showings/"+out.Result.Showing.ID)
	}
	s.respond(c, out.Reply, err)
}

func (s *Server) holdSeats(c *gin.Context) {
	s.setHeadPosition(c)
	var cmd domain.HoldSeats
	key, ok := s.parseCommand(c, domain.HoldFields, func(obj jsonObject, v *domain.Violations) {
		cmd = domain.HoldSeats{
			UserID:     obj.text(v, "user_id"),
			Quantity:   obj.integer(v, "quantity", false, domain.DefaultQuantity),
			TTLSeconds: obj.integer(v, "ttl_seconds", false, domain.DefaultHoldTTLSeconds),
		}
		v.Merge(cmd.Validate())
	})
	if !ok {
		return
	}
	out, err := s.commands.HoldSeats(c.Request.Context(), commandRequest(c, key), c.Param("showing_id"), cmd, holdAnswers)
	if err == nil && !out.Replayed {
		c.Header("Location", "/holds/"+out.Result.ID)
	}
	s.respond(c, out.Reply, err)
}

func (s *Server) releaseHold(c *gin.Context) {
	s.setHeadPosition(c)
	var v domain.Violations
	key := idempotencyKey(c, &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	out, err := s.commands.ReleaseHold(c.Request.Context(), commandRequest(c, key), c.Param("hold_id"), releaseAnswers)
	s.respond(c, out.Reply, err)
}

// awaitShowings waits until the showings read model has reached the request's
// Ticketd-Min-Position; when the header is malformed or the wait runs out it
// has answered the request and returns false.
func (s *Server) awaitShowings(c *gin.Context) bool {
	var v domain.Violations
	minPos := minPosition(c, &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return false
	}
	return s.awaitMinPosition(c, minPos, s.showings.WaitFor)
}

func (s *Server) getShowing(c *gin.Context) {
	if !s.awaitShowings(c) {
		return
	}
	view, err := s.showings.Showing(c.Request.Context(), c.Param("showing_id"))
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	c.JSON(http.StatusOK, newShowingJSON(view))
}

func (s *Server) listShowings(c *gin.Context) {
	q := queryValues(c.Request)
	var v domain.Violations
	f := projections.ShowingFilter{
		TheaterName: q.Get("theater_name"),
		MovieTitle:  q.Get("movie_title"),
		Limit:       int(queryInt(q, &v, "limit", defaultListLimit, 1, maxListLimit)),
		Offset:      int(queryInt(q, &v, "offset", 0, 0, math.MaxInt64)),
	}
	switch status := projections.ShowingStatus(q.Get("status")); status {
	case "", projections.ShowingOnSale, projections.ShowingSoldOut, projections.ShowingClosed:
		f.Status = status
	default:
		v.Add("status", "must be one of on_sale, sold_out, closed")
	}
	for name, bound := range map[string]*time.Time{"starts_after": &f.StartsAfter, "starts_before": &f.StartsBefore} {
		raw := q.Get(name)
		if raw == "" {
			continue
		}
		t, err := domain.ParseTime(raw)
		if err != nil {
			v.Add(name, "must be an RFC 3339 time with an offset, such as 2026-12-24T00:00:00+09:00")
		}
		*bound = t
	}
	minPos := minPosition(c, &v)
	v.Sort([]string{"theater_name", "movie_title", "status", "starts_after", "starts_before", "limit", "offset", headerMinPosition})
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	if !s.awaitMinPosition(c, minPos, s.showings.WaitFor) {
		return
	}
	page, err := s.showings.List(c.Request.Context(), f)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	list := showingListJSON{Showings: make([]showingJSON, len(page.Showings)), Total: page.Total, Limit: f.Limit, Offset: f.Offset}
	for i, view := range page.Showings {
		list.Showings[i] = newShowingJSON(view)
	}
	c.JSON(http.StatusOK, list)
}

func (s *Server) getHold(c *gin.Context) {
	if !s.awaitShowings(c) {
		return
	}
	h, err := s.showings.Hold(c.Request.Context(), c.Param("hold_id"))
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	c.JSON(http.StatusOK, newHoldJSON(h, h.StatusAt(s.showings.Now())))
}

// showingJSON is the showing representation of the contract.
type showingJSON struct {
	ID            string `json:"id"`
	TheaterName   string `json:"theater_name"`
	MovieTitle    string `json:"movie_title"`
	StartsAt      string `json:"starts_at"`
	Capacity      int64  `json:"capacity"`
	PriceKRW      int64  `json:"price_krw"`
	PerBuyerLimit *int64 `json:"per_buyer_limit"`
	Sold          int64  `json:"sold"`
	Held          int64  `json:"held"`
	Available     int64  `json:"available"`
	Status        string `json:"status"`
}

func newShowingJSON(v projections.ShowingView) showingJSON {
	return showingJSON{ID: v.ID, TheaterName: v.TheaterName, MovieTitle: v.MovieTitle, StartsAt: v.StartsAt, Capacity: v.Capacity,
		PriceKRW: v.PriceKRW, PerBuyerLimit: v.PerBuyerLimit, Sold: v.Sold, Held: v.Held, Available: v.Available, Status: string(v.Status)}
}

// newScheduledJSON is the representation of a showing just scheduled:
// nothing sold or held.
func newScheduledJSON(s domain.Showing) showingJSON {
	return showingJSON{ID: s.ID, TheaterName: s.TheaterName, MovieTitle: s.MovieTitle, StartsAt: s.StartsAt, Capacity: s.Capacity,
		PriceKRW: s.PriceKRW, PerBuyerLimit: s.PerBuyerLimit, Available: s.Capacity, Status: string(projections.ShowingOnSale)}
}

type showingListJSON struct {
	Showings []showingJSON `json:"showings"`
	Total    int64         `json:"total"`
	Limit    int           `json:"limit"`
	Offset   int           `json:"offset"`
}

// holdJSON is the hold representation of the contract.
type holdJSON struct {
	HoldID    string `json:"hold_id"`
	ShowingID string `json:"showing_id"`
	UserID    string `json:"user_id"`
	Quantity  int64  `json:"quantity"`
	ExpiresAt string `json:"expires_at"`
	Status    string `json:"status"`
}

func newHoldJSON(h domain.Hold, status domain.HoldStatus) holdJSON {
	return holdJSON{HoldID: h.ID, ShowingID: h.ShowingID, UserID: h.UserID, Quantity: h.Quantity,
		ExpiresAt: domain.FormatTime(h.ExpiresAt), Status: string(status)}
}
