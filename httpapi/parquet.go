package httpapi

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore/parquetlog"
)

// Bounds of GET /events/export.parquet: the contract's limit, and how many
// such exports run at once (each holds a row group, some MB, and a core).
const (
	defaultParquetLimit = 100_000
	maxParquetLimit     = 1_000_000
	maxParquetExports   = 2
)

// parquetContentType is the media type of a Parquet file.
const parquetContentType = "application/vnd.apache.parquet"

// eventsParquet serves GET /events/export.parquet: one Parquet file (the
// columns of `ticketd export --format parquet`) of the events with position
// > after, at most limit, read from the log a page at a time and streamed
// a row group at a time, so memory stays bounded whatever the limit. A
// failure before the first byte is a problem; after it the connection is
// cut, leaving the client a file without its footer, which no reader takes
// for whole. A client that takes no bytes for Config.StreamStallTimeout is
// disconnected. At most maxParquetExports run at once; one more is 503.
func (s *Server) eventsParquet(c *gin.Context) {
	q := queryValues(c.Request)
	var v domain.Violations
	after := queryInt(q, &v, "after", 0, 0, math.MaxInt64)
	limit := queryInt(q, &v, "limit", defaultParquetLimit, 1, maxParquetLimit)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	release, ok := tryTake(s.parquetSlots)
	if !ok {
		writeProblem(c, kindUnavailable, fmt.Sprintf("%d Parquet exports are running, as many as the service runs at once; retry later.", maxParquetExports), nil)
		return
	}
	defer release()
	until := after + limit
	if until < after {
		until = math.MaxInt64
	}
	c.Header("Content-Type", parquetContentType)
	if c.Request.Method == http.MethodHead {
		c.Status(http.StatusOK)
		return
	}
	rc := http.NewResponseController(c.Writer)
	// The server's timeouts bound requests, not downloads of any size; a
	// read deadline left in place would also cancel the request's context.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.cfg.Logger.Warn("Parquet export keeps the read timeout", "request_id", requestID(c), "error", err)
	}
	w := stallWriter{w: c.Writer, rc: rc, stall: s.cfg.StreamStallTimeout}
	n, err := parquetlog.WriteRange(c.Request.Context(), s.log, w, after, until, parquetlog.WriterOptions{})
	switch {
	case err == nil:
		return
	case !c.Writer.Written():
		writeError(c, s.cfg.Logger, err)
	default:
		s.cfg.Logger.Error("Parquet export cut off", "request_id", requestID(c), "after", after, "rows", n, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// stallWriter gives the client stall from each write on to take it.
type stallWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

// Write writes p; where the connection has no deadlines (a handler called
// in process), without one.
func (s stallWriter) Write(p []byte) (int, error) {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.stall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return s.w.Write(p)
}
