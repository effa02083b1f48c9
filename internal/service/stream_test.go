package service_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file follow GET /events/stream over real HTTP.

func TestStreamStartsWhereAskedAndSendsTheEventJSONOfGetEvents(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		c := servicetest.NewClient(t, svc)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[1]}})

		fromStart := servicetest.OpenStream(t, svc, "?from=start")
		raw := c.RawEvents()
		for i, want := range raw {
			m := fromStart.NextEvent()
			if m.Data != string(want) || m.ID != strconv.Itoa(i+1) {
				t.Fatalf("event %d: id %s data %s, want the bytes of GET /events: %s", i+1, m.ID, m.Data, want)
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
			s := servicetest.OpenStream(t, svc, tt.query, tt.headers...)
			if tt.first == 0 {
				head := svc.Store().Head()
				if m := s.Next(); m.Comment != fmt.Sprint("position ", head) {
					t.Fatalf("%s: the stream opens with %+v, want the comment \"position %d\"", tt.name, m, head)
				}
				servicetest.AppendIssued(t, svc, 1)
				tt.first = head + 1
			}
			if got := s.Positions(1); got[0] != tt.first {
				t.Errorf("%s: first position %d, want %d", tt.name, got[0], tt.first)
			}
			s.Close()
		}
	})
}

func TestStreamCatchUpMeetsLiveWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		const before, writers, appendsPerWriter = 5000, 10, 500 // 10,000 events in all
		for range before / 500 {
			servicetest.AppendIssued(t, svc, 500)
		}
		// Streams opened at different moments meet the live head at different places.
		streams := []*servicetest.SSEClient{servicetest.OpenStream(t, svc, "?from=start")}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range appendsPerWriter {
					if err := servicetest.AppendIssuedTo(svc, 1); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			if w == writers/2 {
				streams = append(streams, servicetest.OpenStream(t, svc, "?after=4321"))
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
			s.ExpectPositions(fmt.Sprintf("stream %d", i), want[from:]...)
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

		refunds := servicetest.OpenStream(t, svc, "?from=start&type=TicketRefunded")
		refunds.ExpectPositions("refunds from the start", 4)
		issues := servicetest.OpenStream(t, svc, "?after=2&type=TicketIssued")
		issues.ExpectPositions("issues after 2", 3)

		servicetest.AppendIssued(t, svc, 300) // positions 5..304: none is a refund
		for m := refunds.Next(); m.Comment != "position 304"; m = refunds.Next() {
			if m.Comment == "" {
				t.Fatalf("the refund stream sent %+v", m)
			}
		}
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[0]}}) // position 305
		refunds.ExpectPositions("refund after 300 issues", 305)
		issues.ExpectPositions("issues", servicetest.PositionRange(5, 304)...)
	})
}

func TestStreamOutlivesTheServerTimeoutsAndSendsHeartbeats(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		cfg.SSEHeartbeat = 50 * time.Millisecond
		cfg.WriteTimeout = 300 * time.Millisecond
		cfg.ReadTimeout = 300 * time.Millisecond
		svc := servicetest.Start(t, cfg)
		s := servicetest.OpenStream(t, svc, "?from=start")
		heartbeats := 0
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if m := s.Next(); m.Comment != "position 0" {
				t.Fatalf("idle stream sent %+v, want the heartbeat comment \"position 0\"", m)
			}
			heartbeats++
		}
		if heartbeats < 5 {
			t.Fatalf("%d heartbeats in 1s at a 50ms interval", heartbeats)
		}
		servicetest.AppendIssued(t, svc, 1)
		s.ExpectPositions("after the write and read timeouts passed", 1)
	})
}

func TestStreamOfAClientThatLeavesIsCleanedUp(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc := servicetest.Start(t, e.Config(t))
		c := servicetest.NewClient(t, svc)
		open := func() float64 { return servicetest.MetricValue(c.Scrape(), "ticketd_sse_streams_open") }
		servicetest.AppendIssued(t, svc, 2000)
		var streams []*servicetest.SSEClient
		for range 5 {
			streams = append(streams, servicetest.OpenStream(t, svc, "?from=start"))
		}
		servicetest.WaitUntil(t, "5 streams are counted open", func() bool { return open() == 5 })
		for _, s := range streams {
			s.Positions(10) // read a little, then leave mid-stream with most unread
			s.Close()
		}
		stop, stopped := make(chan struct{}), make(chan error, 1)
		go func() { // a writer goes on while the streams end
			for {
				select {
				case <-stop:
					stopped <- nil
					return
				default:
					if err := servicetest.AppendIssuedTo(svc, 10); err != nil {
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
		s := servicetest.OpenStream(t, svc, "")
		s.Next()
		start := time.Now()
		if err := svc.Shutdown(); err != nil {
			t.Fatalf("shutdown with an open stream: %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("shutdown took %s", took)
		}
		if _, ok := <-s.Messages; ok {
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
