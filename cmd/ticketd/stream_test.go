package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file follow GET /events/stream over real HTTP.

// sseMessage is one block of an event stream: an event (id, event, data)
// or a comment.
type sseMessage struct {
	id, event, data string
	comment         string
}

// sseClient reads one open event stream.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	msgs   chan sseMessage
}

// getStream sends GET url with headers (name, value pairs) and returns the
// response with its body, the stream, unread; ctx ends the stream.
func getStream(ctx context.Context, url string, headers []string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return http.DefaultClient.Do(req)
}

// openStream opens GET /events/stream with query (e.g. "?from=start") and
// headers (name, value pairs), requires a 200 event stream, and closes it
// at the end of the test.
func openStream(t testing.TB, svc *service.Service, query string, headers ...string) *sseClient {
	t.Helper()
	return openStreamAt(t, "http://"+svc.Addr(), query, headers...)
}

// openStreamAt is openStream on the service at base (http://host:port).
func openStreamAt(t testing.TB, base, query string, headers ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := getStream(ctx, base+"/events/stream"+query, headers)
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
	c := &sseClient{t: t, resp: resp, cancel: cancel, msgs: make(chan sseMessage, 64)}
	go c.read()
	t.Cleanup(c.close)
	return c
}

// read parses the stream into c.msgs until it ends, then closes c.msgs.
func (c *sseClient) read() {
	defer close(c.msgs)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(nil, 1<<20)
	var m sseMessage
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "":
			if line == "" {
				c.msgs <- m
				m = sseMessage{}
			} else {
				m.comment = value
			}
		case "id":
			m.id = value
		case "event":
			m.event = value
		case "data":
			m.data = value
		default:
			c.t.Errorf("unexpected line in event stream: %q", line)
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next block, comments included, failing the test after
// 10s or when the stream ended.
func (c *sseClient) next() sseMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("the event stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message on the event stream for 10s")
	}
	return sseMessage{}
}

// nextEvent returns the next event, skipping comments.
func (c *sseClient) nextEvent() sseMessage {
	c.t.Helper()
	for {
		if m := c.next(); m.comment == "" {
			return m
		}
	}
}

// positions reads n events and returns their ids as positions, checking
// that each id, event type and data agree.
func (c *sseClient) positions(n int) []int64 {
	c.t.Helper()
	got := make([]int64, 0, n)
	for range n {
		m := c.nextEvent()
		var e struct {
			Position int64  `json:"position"`
			Type     string `json:"type"`
		}
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			c.t.Fatalf("event data is not an event's JSON: %v: %q", err, m.data)
		}
		if m.id != strconv.FormatInt(e.Position, 10) || m.event != e.Type {
			c.t.Fatalf("message id %q event %q carries position %d type %s", m.id, m.event, e.Position, e.Type)
		}
		got = append(got, e.Position)
	}
	return got
}

// expectPositions reads len(want) events and requires exactly want.
func (c *sseClient) expectPositions(what string, want ...int64) {
	c.t.Helper()
	if got := c.positions(len(want)); !reflect.DeepEqual(got, want) {
		c.t.Fatalf("%s: got positions %v, want %v", what, got, want)
	}
}

func TestStreamStartsWhereAskedAndSendsTheEventJSONOfGetEvents(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		c := servicetest.NewClient(t, svc)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[1]}})

		fromStart := openStream(t, svc, "?from=start")
		raw := c.RawEvents()
		for i, want := range raw {
			m := fromStart.nextEvent()
			if m.data != string(want) || m.id != strconv.Itoa(i+1) {
				t.Fatalf("event %d: id %s data %s, want the bytes of GET /events: %s", i+1, m.id, m.data, want)
			}
		}
		for _, tt := range []struct {
			name, query string
			headers     []string
			first       int64 // 0: the next event committed
		}{
			{"after", "?after=2", nil, 3},
			{"after zero", "?after=0&from=now", nil, 1},
			{"Last-Event-ID", "", []string{"Last-Event-ID", "3"}, 4},
			{"Last-Event-ID over after and from", "?after=1&from=start", []string{"Last-Event-ID", "2"}, 3},
			{"empty values mean not given", "?after=&from=&type=", []string{"Last-Event-ID", ""}, 0},
			{"from now (the default)", "", nil, 0},
			{"from now", "?from=now", nil, 0},
		} {
			s := openStream(t, svc, tt.query, tt.headers...)
			if tt.first == 0 {
				head := svc.Store().Head()
				if m := s.next(); m.comment != fmt.Sprint("position ", head) {
					t.Fatalf("%s: the stream opens with %+v, want the comment \"position %d\"", tt.name, m, head)
				}
				appendIssued(t, svc, 1)
				tt.first = head + 1
			}
			if got := s.positions(1); got[0] != tt.first {
				t.Errorf("%s: first position %d, want %d", tt.name, got[0], tt.first)
			}
			s.close()
		}
	})
}

func TestStreamCatchUpMeetsLiveWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		const before, writers, appendsPerWriter = 5000, 10, 500 // 10,000 events in all
		for range before / 500 {
			appendIssued(t, svc, 500)
		}
		// Streams opened at different moments meet the live head at different places.
		streams := []*sseClient{openStream(t, svc, "?from=start")}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range appendsPerWriter {
					if err := appendIssuedTo(svc, 1); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			if w == writers/2 {
				streams = append(streams, openStream(t, svc, "?after=4321"))
			}
		}
		want := make([]int64, 0, before+writers*appendsPerWriter)
		for p := int64(1); p <= before+writers*appendsPerWriter; p++ {
			want = append(want, p)
		}
		for i, s := range streams {
			from := 0
			if i == 1 {
				from = 4321
			}
			s.expectPositions(fmt.Sprintf("stream %d", i), want[from:]...)
		}
		wg.Wait()
		if head := svc.Store().Head(); head != int64(len(want)) {
			t.Fatalf("log head %d, want %d", head, len(want))
		}
	})
}

func TestStreamTypeFilterKeepsOnlyThatTypeAndMovesPastTheRest(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		cfg.SSEHeartbeat = 50 * time.Millisecond
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[2]}}) // position 4

		refunds := openStream(t, svc, "?from=start&type=TicketRefunded")
		refunds.expectPositions("refunds from the start", 4)
		issues := openStream(t, svc, "?after=2&type=TicketIssued")
		issues.expectPositions("issues after 2", 3)

		appendIssued(t, svc, 300) // positions 5..304: none is a refund
		for m := refunds.next(); m.comment != "position 304"; m = refunds.next() {
			if m.comment == "" {
				t.Fatalf("the refund stream sent %+v", m)
			}
		}
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[0]}}) // position 305
		refunds.expectPositions("refund after 300 issues", 305)
		issues.expectPositions("issues", want(5, 304)...)
	})
}

// want returns the positions from..to.
func want(from, to int64) []int64 {
	var ps []int64
	for p := from; p <= to; p++ {
		ps = append(ps, p)
	}
	return ps
}

func TestStreamOutlivesTheServerTimeoutsAndSendsHeartbeats(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		cfg.SSEHeartbeat = 50 * time.Millisecond
		cfg.WriteTimeout = 300 * time.Millisecond
		cfg.ReadTimeout = 300 * time.Millisecond
		svc := servicetest.Start(t, cfg)
		s := openStream(t, svc, "?from=start")
		heartbeats := 0
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if m := s.next(); m.comment != "position 0" {
				t.Fatalf("idle stream sent %+v, want the heartbeat comment \"position 0\"", m)
			}
			heartbeats++
		}
		if heartbeats < 5 {
			t.Fatalf("%d heartbeats in 1s at a 50ms interval", heartbeats)
		}
		appendIssued(t, svc, 1)
		s.expectPositions("after the write and read timeouts passed", 1)
	})
}

func TestStreamOfAClientThatLeavesIsCleanedUp(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		c := servicetest.NewClient(t, svc)
		open := func() float64 { return servicetest.MetricValue(c.Scrape(), "ticketd_sse_streams_open") }
		appendIssued(t, svc, 2000)
		var streams []*sseClient
		for range 5 {
			streams = append(streams, openStream(t, svc, "?from=start"))
		}
		servicetest.WaitUntil(t, "5 streams are counted open", func() bool { return open() == 5 })
		for _, s := range streams {
			s.positions(10) // read a little, then leave mid-stream with most unread
			s.close()
		}
		stop, stopped := make(chan struct{}), make(chan error, 1)
		go func() { // a writer goes on while the streams end
			for {
				select {
				case <-stop:
					stopped <- nil
					return
				default:
					if err := appendIssuedTo(svc, 10); err != nil {
						stopped <- err
						return
					}
				}
			}
		}()
		servicetest.WaitUntil(t, "no stream is counted open", func() bool { return open() == 0 })
		close(stop)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue); r.Status != http.StatusCreated {
			t.Fatalf("issue after the streams left: %d", r.Status)
		}
	})
}

func TestShutdownEndsOpenStreams(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc, err := service.Start(context.Background(), e.Config(t), servicetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		s := openStream(t, svc, "")
		s.next()
		start := time.Now()
		if err := svc.Shutdown(); err != nil {
			t.Fatalf("shutdown with an open stream: %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("shutdown took %s", took)
		}
		if _, ok := <-s.msgs; ok {
			t.Fatal("the stream went on after shutdown")
		}
	})
}

func TestStreamBadParametersAre400NamingThem(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		for _, tt := range []struct {
			query   string
			headers []string
			fields  []string
		}{
			{"?after=-1", nil, []string{"after"}},
			{"?after=x", nil, []string{"after"}},
			{"?from=later", nil, []string{"from"}},
			{"?type=Bogus", nil, []string{"type"}},
			{"", []string{"Last-Event-ID", "abc"}, []string{"Last-Event-ID"}},
			{"", []string{"Last-Event-ID", "-3"}, []string{"Last-Event-ID"}},
			{"?after=-1&from=x&type=y", []string{"Last-Event-ID", "1.5"}, []string{"Last-Event-ID", "after", "from", "type"}},
		} {
			r := c.Do("GET", "/events/stream"+tt.query, nil, tt.headers...)
			if r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), tt.fields) {
				t.Errorf("GET /events/stream%s %v = %d %s, want 400 naming %v", tt.query, tt.headers, r.Status, r.Body, tt.fields)
			}
		}
	})
}
