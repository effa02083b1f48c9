package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// headerLastEventID is the header an SSE client resumes with.
const headerLastEventID = "Last-Event-ID"

// streamMessageCacheSize is how many encoded events the streams share: the
// newest ones, which every live stream sends.
const streamMessageCacheSize = 4096

// streamStart is where a stream begins and what it keeps.
type streamStart struct {
	after int64    // the stream sends events with position > after
	types []string // empty: every type
}

// parseStreamStart reads the stream's start from Last-Event-ID, else after,
// else from (start: 0, now: the log's head), adding every malformed one to v.
func (s *Server) parseStreamStart(c *gin.Context, v *domain.Violations) streamStart {
	q := queryValues(c.Request)
	start := streamStart{types: queryEventTypes(q, v)}
	after := queryInt(q, v, "after", 0, 0, math.MaxInt64)
	from := q.Get("from")
	if from != "" && from != "start" && from != "now" {
		v.Add("from", "must be start or now")
	}
	switch lastID := c.GetHeader(headerLastEventID); {
	case lastID != "":
		n, err := strconv.ParseInt(lastID, 10, 64)
		if err != nil || n < 0 {
			v.Add(headerLastEventID, "must be an event position: an integer of at least 0")
		}
		start.after = n
	case q.Get("after") != "":
		start.after = after
	case from == "start":
		start.after = 0
	default:
		start.after = s.log.Head()
	}
	return start
}

// streamEvents serves GET /events/stream: Server-Sent Events, one message
// per event (id: position, event: type, data: the event JSON of GET
// /events), then live events as they are committed. Comments report the
// position read up to (": position N"), once at the start and as the
// heartbeat, so a client can resume past events a type filter skipped.
//
// Each stream follows the log at its own pace, a page at a time, so a slow
// client holds at most one page and never delays writers or other streams.
// A client that accepts no bytes for Config.StreamStallTimeout is
// disconnected, and its connection's small send buffer
// (Config.StreamWriteBuffer) bounds what it pins meanwhile. At most
// Config.MaxStreams are open; one more is 503 with Retry-After. The stream
// ends when the client goes away or CloseStreams is called; it is closed,
// with an ERROR log line naming the position, at an event the log holds
// corrupt.
func (s *Server) streamEvents(c *gin.Context) {
	var v domain.Violations
	start := s.parseStreamStart(c, &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	release, ok := tryTake(s.streamSlots)
	if !ok {
		writeProblem(c, kindUnavailable, fmt.Sprintf("%d event streams are open, as many as the service serves; retry later.", s.cfg.MaxStreams), nil)
		return
	}
	defer release()
	s.shrinkSendBuffer(c)
	rc := http.NewResponseController(c.Writer)
	// The server's read and write timeouts bound requests, not streams; a
	// read deadline left in place would also cancel the request's context.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.cfg.Logger.Warn("event stream keeps the read timeout", "request_id", requestID(c), "error", err)
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		s.cfg.Logger.Warn("event stream keeps the write timeout", "request_id", requestID(c), "error", err)
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	if c.Request.Method == http.MethodHead {
		return // a stream's headers, without the stream
	}
	if s.metrics != nil {
		s.metrics.SSEStreamOpened()
		defer s.metrics.SSEStreamClosed()
	}
	st := &eventStream{server: s, w: c.Writer, rc: rc, start: start}
	err := st.run(c.Request.Context())
	var corrupt *eventstore.CorruptEventError
	switch {
	case errors.As(err, &corrupt):
		s.cfg.Logger.Error("event stream closed at a corrupt event", "request_id", requestID(c), "position", corrupt.Position, "error", err)
	case err != nil:
		s.cfg.Logger.Info("event stream ended", "request_id", requestID(c), "position", st.start.after, "error", err)
	}
}

// shrinkSendBuffer sets the socket send buffer of c's connection to
// Config.StreamWriteBuffer (which also stops the kernel from growing it). A
// failure only costs memory, so it is logged.
func (s *Server) shrinkSendBuffer(c *gin.Context) {
	conn, ok := connOf(c.Request.Context()).(interface{ SetWriteBuffer(bytes int) error })
	if !ok {
		return
	}
	if err := conn.SetWriteBuffer(s.cfg.StreamWriteBuffer); err != nil {
		s.cfg.Logger.Warn("event stream keeps the default socket send buffer", "request_id", requestID(c), "error", err)
	}
}

// eventStream is one open GET /events/stream.
type eventStream struct {
	server *Server
	w      gin.ResponseWriter
	rc     *http.ResponseController
	// start.after advances to the last position read, sent or filtered out.
	start streamStart
	buf   []byte
}

// run writes events until ctx ends or the server closes its streams (nil),
// or until a read or write fails (that error).
func (st *eventStream) run(ctx context.Context) error {
	cfg := st.server.cfg
	heartbeat := time.NewTicker(cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	if err := st.writePosition(); err != nil {
		return err
	}
	pause := time.NewTimer(cfg.StreamLinger)
	pause.Stop()
	for {
		head, changed := st.server.log.HeadChanged()
		if head > st.start.after {
			n, err := st.sendPage(ctx)
			if err != nil {
				return err
			}
			if n == cfg.StreamPageSize {
				continue // more history: read on at once
			}
			if n > 0 {
				// Caught up: let commits gather, so that under load one
				// write carries many of them instead of one wake-up each.
				if !st.pause(ctx, pause, cfg.StreamLinger) {
					return nil
				}
				continue
			}
		}
		select {
		case <-changed:
			// One commit wakes every idle stream; each waits a random part
			// of the linger, so that they do not all read and write at once
			// (and delay the commands in between).
			if !st.pause(ctx, pause, rand.N(cfg.StreamLinger)) {
				return nil
			}
		case <-heartbeat.C:
			if err := st.writePosition(); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-st.server.streamsClosed:
			return nil
		}
	}
}

// pause waits d on timer; it returns false when the stream is to end
// instead.
func (st *eventStream) pause(ctx context.Context, timer *time.Timer, d time.Duration) bool {
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-st.server.streamsClosed:
		return false
	}
}

// pageBuffers holds the buffers pages are written from, so that a page
// leaves in one write and idle streams hold none.
var pageBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPage is the largest page buffer kept for reuse.
const maxPooledPage = 256 << 10

// sendPage reads one page of the log after the stream's position, writes
// the events its filter keeps in one write and flushes. It returns how many
// events it read.
func (st *eventStream) sendPage(ctx context.Context) (int, error) {
	records, err := st.readPage(ctx)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	page := pageBuffers.Get().(*[]byte)
	defer func() {
		if cap(*page) <= maxPooledPage {
			*page = (*page)[:0]
			pageBuffers.Put(page)
		}
	}()
	for _, rec := range records {
		st.start.after = rec.Position
		if len(st.start.types) > 0 && !slices.Contains(st.start.types, rec.Type) {
			continue
		}
		msg, err := st.server.streamMessages.get(rec)
		if err != nil {
			return 0, err
		}
		*page = append(*page, msg...)
	}
	if len(*page) == 0 {
		return len(records), nil
	}
	if err := st.allowStall(); err != nil {
		return 0, err
	}
	if _, err := st.w.Write(*page); err != nil {
		return 0, err
	}
	return len(records), st.rc.Flush()
}

// readPage reads the next page of the log after the stream's position. At a
// corrupt event it returns the events before it, so that they are sent, and
// the *eventstore.CorruptEventError only when the event is the next one.
func (st *eventStream) readPage(ctx context.Context) ([]eventstore.Record, error) {
	records, err := st.server.log.ReadAll(ctx, st.start.after, st.server.cfg.StreamPageSize)
	var corrupt *eventstore.CorruptEventError
	if errors.As(err, &corrupt) && corrupt.Position > st.start.after+1 {
		return st.server.log.ReadAll(ctx, st.start.after, int(corrupt.Position-1-st.start.after))
	}
	return records, err
}

// writePosition writes and flushes the comment ": position N", N being the
// position read up to.
func (st *eventStream) writePosition() error {
	st.buf = append(st.buf[:0], ": position "...)
	st.buf = strconv.AppendInt(st.buf, st.start.after, 10)
	st.buf = append(st.buf, "\n\n"...)
	if err := st.allowStall(); err != nil {
		return err
	}
	if _, err := st.w.Write(st.buf); err != nil {
		return err
	}
	return st.rc.Flush()
}

// allowStall gives the client Config.StreamStallTimeout from now to take
// what is written next.
func (st *eventStream) allowStall() error {
	return st.rc.SetWriteDeadline(time.Now().Add(st.server.cfg.StreamStallTimeout))
}

// CloseStreams ends every open event stream and makes new ones end at once,
// so that an HTTP server's Shutdown finds their connections idle. It is safe
// to call more than once.
func (s *Server) CloseStreams() {
	s.closeStreamsOnce.Do(func() { close(s.streamsClosed) })
}

// messageCache holds the SSE messages of recent events, each encoded once
// for all the streams that send it. It is safe for concurrent use.
type messageCache struct {
	slots []atomic.Pointer[cachedMessage]
}

type cachedMessage struct {
	position int64
	msg      []byte
}

func newMessageCache(size int) *messageCache {
	return &messageCache{slots: make([]atomic.Pointer[cachedMessage], size)}
}

// get returns rec's SSE message: "id: <position>", "event: <type>",
// "data: <the event JSON>" and a blank line. It fails when rec cannot be
// encoded.
func (c *messageCache) get(rec eventstore.Record) ([]byte, error) {
	slot := &c.slots[rec.Position%int64(len(c.slots))]
	if m := slot.Load(); m != nil && m.position == rec.Position {
		return m.msg, nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", rec.Position, err)
	}
	msg := make([]byte, 0, len(data)+len(rec.Type)+48)
	msg = append(msg, "id: "...)
	msg = strconv.AppendInt(msg, rec.Position, 10)
	msg = append(msg, "\nevent: "...)
	msg = append(msg, rec.Type...)
	msg = append(msg, "\ndata: "...)
	msg = append(msg, data...)
	msg = append(msg, "\n\n"...)
	slot.Store(&cachedMessage{position: rec.Position, msg: msg})
	return msg, nil
}
