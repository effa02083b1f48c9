package servicetest

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
)

// SSEMessage is one block of an event stream: an event (id, event, data)
// or a comment.
type SSEMessage struct {
	ID, Event, Data string
	Comment         string
}

// SSEClient reads one open event stream.
type SSEClient struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	// Messages receives the blocks of the stream in order, and is closed
	// when it ends.
	Messages chan SSEMessage
}

// GetStream sends GET url with headers (name, value pairs) and returns the
// response with its body, the stream, unread; ctx ends the stream.
func GetStream(ctx context.Context, url string, headers []string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return http.DefaultClient.Do(req)
}

// OpenStream opens GET /events/stream with query (e.g. "?from=start") and
// headers (name, value pairs), requires a 200 event stream, and closes it
// at the end of the test.
func OpenStream(t testing.TB, svc *service.Service, query string, headers ...string) *SSEClient {
	t.Helper()
	return OpenStreamAt(t, "http://"+svc.Addr(), query, headers...)
}

// OpenStreamAt is OpenStream on the service at base (http://host:port).
func OpenStreamAt(t testing.TB, base, query string, headers ...string) *SSEClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := GetStream(ctx, base+"/events/stream"+query, headers)
	if err != nil {
		cancel()
		t.Fatalf("GET /events/stream%s: %v", query, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Request-ID") == "" {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET /events/stream%s = %d %v", query, resp.StatusCode, resp.Header)
	}
	c := &SSEClient{t: t, resp: resp, cancel: cancel, Messages: make(chan SSEMessage, 64)}
	go c.read()
	t.Cleanup(c.Close)
	return c
}

// read parses the stream into c.Messages until it ends, then closes it.
func (c *SSEClient) read() {
	defer close(c.Messages)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(nil, 1<<20)
	var m SSEMessage
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "":
			if line == "" {
				c.Messages <- m
				m = SSEMessage{}
			} else {
				m.Comment = value
			}
		case "id":
			m.ID = value
		case "event":
			m.Event = value
		case "data":
			m.Data = value
		default:
			c.t.Errorf("unexpected line in event stream: %q", line)
		}
	}
}

// Close ends the stream.
func (c *SSEClient) Close() {
	c.cancel()
	c.resp.Body.Close()
}

// Next returns the next block, comments included, failing the test after
// 10s or when the stream ended.
func (c *SSEClient) Next() SSEMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.Messages:
		if !ok {
			c.t.Fatal("the event stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message on the event stream for 10s")
	}
	return SSEMessage{}
}

// NextEvent returns the next event, skipping comments.
func (c *SSEClient) NextEvent() SSEMessage {
	c.t.Helper()
	for {
		if m := c.Next(); m.Comment == "" {
			return m
		}
	}
}

// Positions reads n events and returns their ids as positions, checking
// that each id, event type and data agree.
func (c *SSEClient) Positions(n int) []int64 {
	c.t.Helper()
	got := make([]int64, 0, n)
	for range n {
		m := c.NextEvent()
		var e struct {
			Position int64  `json:"position"`
			Type     string `json:"type"`
		}
		if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
			c.t.Fatalf("event data is not an event's JSON: %v: %q", err, m.Data)
		}
		if m.ID != strconv.FormatInt(e.Position, 10) || m.Event != e.Type {
			c.t.Fatalf("message id %q event %q carries position %d type %s", m.ID, m.Event, e.Position, e.Type)
		}
		got = append(got, e.Position)
	}
	return got
}

// ExpectPositions reads len(want) events and requires exactly want.
func (c *SSEClient) ExpectPositions(what string, want ...int64) {
	c.t.Helper()
	if got := c.Positions(len(want)); !reflect.DeepEqual(got, want) {
		c.t.Fatalf("%s: got positions %v, want %v", what, got, want)
	}
}

// PositionRange returns the positions from..to.
func PositionRange(from, to int64) []int64 {
	var ps []int64
	for p := from; p <= to; p++ {
		ps = append(ps, p)
	}
	return ps
}
