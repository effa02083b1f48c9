package httpapi

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/projections"
)

// SalesReadModel is what the API needs of the sales projection.
type SalesReadModel interface {
	Page(ctx context.Context, by projections.Dimension, limit, offset int) (projections.SalesPage, error)
	Timeline(ctx context.Context, now time.Time, n int) (projections.Timeline, error)
	// WaitFor blocks until the read model reflects the log up to pos; it
	// returns nil at once when it does, even for an ended ctx.
	WaitFor(ctx context.Context, pos int64) error
}

// Timeline bounds of the contract: the last 24 hours at most.
const (
	defaultTimelineMinutes = 60
	maxTimelineMinutes     = 24 * 60
)

// salesRowJSON is the sales of one theater or movie.
type salesRowJSON struct {
	Name       string `json:"name"`
	Issued     int64  `json:"issued"`
	Canceled   int64  `json:"canceled"`
	RevenueKRW int64  `json:"revenue_krw"`
}

// salesPageJSON is the body of GET /stats/sales.
type salesPageJSON struct {
	By       string         `json:"by"`
	Rows     []salesRowJSON `json:"rows"`
	Total    int64          `json:"total"`
	Limit    int            `json:"limit"`
	Offset   int            `json:"offset"`
	Position int64          `json:"position"`
}

// totalsJSON is the sales of every theater together.
type totalsJSON struct {
	Issued     int64 `json:"issued"`
	Canceled   int64 `json:"canceled"`
	RevenueKRW int64 `json:"revenue_krw"`
}

// minuteJSON is the issues and refunds of one UTC minute.
type minuteJSON struct {
	Start    string `json:"start"`
	Issued   int64  `json:"issued"`
	Canceled int64  `json:"canceled"`
}

// timelineJSON is the body of GET /stats/timeline.
type timelineJSON struct {
	Minutes  []minuteJSON `json:"minutes"`
	Totals   totalsJSON   `json:"totals"`
	Position int64        `json:"position"`
}

// salesStats serves GET /stats/sales: one page of the sales by theater or
// by movie, highest revenue first.
func (s *Server) salesStats(c *gin.Context) {
	q := c.Request.URL.Query()
	var v domain.Violations
	by := projections.Dimension(q.Get("by"))
	switch by {
	case "":
		by = projections.ByTheater
	case projections.ByTheater, projections.ByMovie:
	default:
		v.Add("by", "must be theater or movie")
	}
	limit := int(queryInt(q, &v, "limit", defaultListLimit, 1, maxListLimit))
	offset := int(queryInt(q, &v, "offset", 0, 0, math.MaxInt64))
	if !s.awaitStats(c, &v) {
		return
	}
	page, err := s.sales.Page(c.Request.Context(), by, limit, offset)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	rows := make([]salesRowJSON, len(page.Rows))
	for i, r := range page.Rows {
		rows[i] = salesRowJSON(r)
	}
	c.JSON(http.StatusOK, salesPageJSON{By: string(by), Rows: rows, Total: page.Total, Limit: limit, Offset: offset, Position: page.Position})
}

// salesTimeline serves GET /stats/timeline: the issues and refunds of each
// of the last N minutes (the current one included) and the totals.
func (s *Server) salesTimeline(c *gin.Context) {
	var v domain.Violations
	n := int(queryInt(c.Request.URL.Query(), &v, "minutes", defaultTimelineMinutes, 1, maxTimelineMinutes))
	if !s.awaitStats(c, &v) {
		return
	}
	tl, err := s.sales.Timeline(c.Request.Context(), time.Now(), n)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	minutes := make([]minuteJSON, len(tl.Minutes))
	for i, m := range tl.Minutes {
		minutes[i] = minuteJSON{Start: m.Start.UTC().Format(time.RFC3339), Issued: m.Issued, Canceled: m.Canceled}
	}
	c.JSON(http.StatusOK, timelineJSON{Minutes: minutes, Position: tl.Position,
		Totals: totalsJSON{Issued: tl.Totals.Issued, Canceled: tl.Totals.Canceled, RevenueKRW: tl.Totals.RevenueKRW}})
}

// awaitStats adds the request's Ticketd-Min-Position to the query's
// violations v, answers 400 when there are any, and else waits for the
// sales projection to reach that position. It returns false when it
// answered.
func (s *Server) awaitStats(c *gin.Context, v *domain.Violations) bool {
	minPos := minPosition(c, v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return false
	}
	return s.awaitMinPosition(c, minPos, s.sales.WaitFor)
}
