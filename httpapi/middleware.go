package httpapi

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
)

// Header names of request tracing.
const (
	headerRequestID     = "X-Request-ID"
	headerCorrelationID = "X-Correlation-ID"
)

// Context keys the handlers fill for the access log.
const (
	ctxRequestID       = "ticketd.request_id"
	ctxCorrelationID   = "ticketd.correlation_id"
	logTicketsIssued   = "ticketd.tickets_issued"
	logTicketsRefunded = "ticketd.tickets_refunded"
)

// tracerName is the instrumentation scope of the API's spans.
const tracerName = "github.com/ticketd/ticketd/httpapi"

// maxTraceIDLen bounds client-sent trace ids; longer ones are replaced.
const maxTraceIDLen = 200

// withRequestID gives every request an id: the client's X-Request-ID when it
// sent a usable one, else a new UUID. The id is echoed in the response header,
// stored on events and quoted in problems and logs. The correlation id is the
// client's X-Correlation-ID, else the request id.
func (s *Server) withRequestID(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !usableTraceID(id) {
		id = uuid.Must(uuid.NewV7()).String()
	}
	c.Set(ctxRequestID, id)
	c.Header(headerRequestID, id)
	corr := c.GetHeader(headerCorrelationID)
	if !usableTraceID(corr) {
		corr = id
	} else {
		c.Header(headerCorrelationID, corr)
	}
	c.Set(ctxCorrelationID, corr)
	c.Next()
}

// usableTraceID reports whether id is 1 to maxTraceIDLen visible ASCII characters.
func usableTraceID(id string) bool {
	if id == "" || len(id) > maxTraceIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func requestID(c *gin.Context) string     { return c.GetString(ctxRequestID) }
func correlationID(c *gin.Context) string { return c.GetString(ctxCorrelationID) }

// withAccessLog writes one structured line per request once it is answered:
// at DEBUG for a health probe, ERROR for a 5xx, else INFO.
func (s *Server) withAccessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	level := slog.LevelInfo
	switch {
	case isProbe(c):
		level = slog.LevelDebug
	case c.Writer.Status() >= http.StatusInternalServerError:
		level = slog.LevelError
	}
	if !s.cfg.Logger.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []any{
		"request_id", requestID(c),
		"method", c.Request.Method,
		"route", routeOf(c),
		"path", c.Request.URL.Path,
		"status", c.Writer.Status(),
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		"bytes", c.Writer.Size(),
		"client_addr", c.Request.RemoteAddr,
	}
	if role := c.GetString(ctxRole); role != "" {
		attrs = append(attrs, "role", role)
	}
	if n := c.GetInt(logTicketsIssued); n > 0 {
		attrs = append(attrs, "tickets_issued", n)
	}
	if n := c.GetInt(logTicketsRefunded); n > 0 {
		attrs = append(attrs, "tickets_refunded", n)
	}
	s.cfg.Logger.Log(c.Request.Context(), level, "request", attrs...)
}

// routeOf returns the route pattern that matched the request, such as
// /tickets/:ticket_id, or "unmatched" when none did.
func routeOf(c *gin.Context) string {
	if route := c.FullPath(); route != "" {
		return route
	}
	return "unmatched"
}

// withRecovery turns a panic in a handler into a logged 500 problem.
func (s *Server) withRecovery(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.cfg.Logger.Error("handler panicked", "request_id", requestID(c), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeProblem(c, kindInternal, "An internal error occurred; quote request id "+requestID(c)+" when reporting it.", nil)
		}
	}()
	c.Next()
}

// HeaderReadLimit is the MaxHeaderBytes to give the http.Server in front of
// an API configured with maxHeaderBytes: twice that, and at least 2 MiB, so
// that oversized headers up to it reach withHeaderLimit and get a problem.
// Larger ones are refused by net/http itself, with its plain-text 431.
func HeaderReadLimit(maxHeaderBytes int) int {
	return max(2*maxHeaderBytes, 2<<20)
}

// withHeaderLimit answers 431 when the request line and headers, as sent,
// are over Config.MaxHeaderBytes.
func (s *Server) withHeaderLimit(c *gin.Context) {
	if n := headerBytes(c.Request); n > s.cfg.MaxHeaderBytes {
		writeProblem(c, kindHeaderLarge, fmt.Sprintf("The request line and headers take %d bytes; at most %d are accepted.", n, s.cfg.MaxHeaderBytes), nil)
		return
	}
	c.Next()
}

// headerBytes is the size of r's request line and header block on the wire,
// give or take the spacing the client used.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// requireJSON answers 415, naming the header, unless the request body is
// declared as JSON: Content-Type application/json (parameters allowed) and
// no Content-Encoding. This also refuses the cross-site text/plain and form
// posts a browser sends any origin's page without a CORS preflight.
func requireJSON(c *gin.Context) {
	var fields []domain.FieldError
	if mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mediaType != "application/json" {
		fields = append(fields, domain.FieldError{Field: "Content-Type", Message: "must be application/json"})
	}
	if len(c.Request.Header.Values("Content-Encoding")) > 0 {
		fields = append(fields, domain.FieldError{Field: "Content-Encoding", Message: "must be absent: bodies are accepted only unencoded"})
	}
	if len(fields) > 0 {
		writeProblem(c, kindMediaType, "Send the body as Content-Type: application/json, without Content-Encoding.", fields)
	}
}

// withoutSmuggling answers 400 and closes the connection when it carried a
// request with both Content-Length and Transfer-Encoding (see WrapListener),
// so nothing read after that request runs.
func withoutSmuggling(c *gin.Context) {
	if !ambiguousConn(c.Request.Context()) {
		c.Next()
		return
	}
	c.Header("Connection", "close")
	writeProblem(c, kindValidation, "A request may not carry both Content-Length and Transfer-Encoding (RFC 9112 §6.1); the connection is closed.",
		[]domain.FieldError{{Field: "Content-Length", Message: "must not be sent with Transfer-Encoding"}, {Field: "Transfer-Encoding", Message: "must not be sent with Content-Length"}})
}
