package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file are about what a log file alone cannot prove
// (truncation, a rebuilt log) and about stored events that are not JSON.
func TestAuditHeadIsTheLastEventOrTheGenesisOfAnEmptyLog(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	if got, want := c.AuditHead(), "0:"+eventstore.GenesisHash; got != want {
		t.Fatalf("head of an empty log = %s, want %s", got, want)
	}
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2))
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	events := c.Do("GET", "/events", nil).JSON(t)["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	if got, want := c.AuditHead(), fmt.Sprintf("%v:%v", last["position"], last["hash"]); got != want || !strings.HasPrefix(got, "3:") {
		t.Fatalf("head = %s, want the last event's position and hash %s", got, want)
	}
}

// startLoggedOn starts a service on the database at path and returns it with
// the buffer its JSON log lines go to.
func startLoggedOn(t *testing.T, path string) (*service.Service, *servicetest.SyncBuffer) {
	t.Helper()
	cfg := servicetest.Config(t.TempDir())
	cfg.DB = path
	svc, logs, _ := servicetest.StartLogged(t, cfg)
	return svc, logs
}

// errorLogged reports whether logs hold an ERROR line with message msg naming
// position and, when set, the request id.
func errorLogged(logs *servicetest.SyncBuffer, msg string, position int, requestID string) bool {
	for _, raw := range strings.Split(logs.String(), "\n") {
		var l servicetest.LogLine
		if json.Unmarshal([]byte(raw), &l) != nil {
			continue
		}
		if l.Str("level") == "ERROR" && l.Str("msg") == msg && l["position"] == float64(position) &&
			(requestID == "" || l.Str("request_id") == requestID) {
			return true
		}
	}
	return false
}

func TestACorruptStoredEventIsA500NamingItsPositionNeverAnEmpty200(t *testing.T) {
	t.Parallel()
	for _, column := range []string{"data", "metadata"} {
		t.Run(column, func(t *testing.T) {
			t.Parallel()
			corrupt := servicetest.BuildCorruptLog(t, column)
			svc, logs := startLoggedOn(t, corrupt.Path)
			c := servicetest.NewClient(t, svc)
			for _, path := range []string{"/events", "/events?after=2&limit=5", "/tickets/" + corrupt.Ticket + "/events"} {
				before := c.Scrape()
				r := c.Do("GET", path, nil)
				p := r.JSON(t)
				id := r.Header.Get("X-Request-ID")
				if r.Status != http.StatusInternalServerError || p["status"] != float64(500) || p["request_id"] != id || !strings.Contains(p["detail"].(string), id) {
					t.Fatalf("GET %s = %d %s, want a 500 problem with request id %s", path, r.Status, r.Body, id)
				}
				if strings.Contains(string(r.Body), column) || strings.Contains(string(r.Body), "position") {
					t.Errorf("GET %s: the 500 shows internals: %s", path, r.Body)
				}
				if !errorLogged(logs, "request failed", servicetest.CorruptPosition, id) {
					t.Errorf("GET %s: no ERROR line naming position %d and request id %s:\n%s", path, servicetest.CorruptPosition, id, logs.String())
				}
				route := strings.Split(strings.Replace(path, corrupt.Ticket, ":ticket_id", 1), "?")[0]
				servicetest.WaitUntil(t, "the 500 is counted", func() bool {
					return servicetest.MetricValue(c.Scrape(), "ticketd_http_requests_total", "route", route, "status", "500")-
						servicetest.MetricValue(before, "ticketd_http_requests_total", "route", route, "status", "500") == 1
				})
			}
			if r := c.Do("GET", "/events?after=5", nil); r.Status != http.StatusOK {
				t.Errorf("GET /events after the corrupt event = %d %s", r.Status, r.Body)
			}
		})
	}
}

func TestAStreamReachingACorruptEventLogsItsPositionAndCloses(t *testing.T) {
	t.Parallel()
	corrupt := servicetest.BuildCorruptLog(t, "metadata")
	svc, logs := startLoggedOn(t, corrupt.Path)
	stream := servicetest.OpenStream(t, svc, "?from=start")
	stream.ExpectPositions("the events before the corrupt one", servicetest.PositionRange(1, servicetest.CorruptPosition-1)...)
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case m, ok := <-stream.Messages:
			if ok && m.ID != "" {
				t.Fatalf("the stream sent event %s at or past the corrupt one", m.ID)
			}
			open = ok
		case <-deadline:
			t.Fatal("the stream stayed open at a corrupt event")
		}
	}
	servicetest.WaitUntil(t, "the stream's ERROR line", func() bool {
		return errorLogged(logs, "event stream closed at a corrupt event", servicetest.CorruptPosition, "")
	})
}

func TestGetEventsShowsARowCorruptedWhileTheServiceRuns(t *testing.T) {
	t.Parallel()
	svc, logs := startLoggedOn(t, filepath.Join(t.TempDir(), "app.db"))
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
	servicetest.Tamper(t, svc.Config().DB, `UPDATE events SET data = 'not json' WHERE position = 2`)
	for _, path := range []string{"/events", "/tickets/" + ids[1] + "/events"} {
		r := c.Do("GET", path, nil)
		if r.Status != http.StatusInternalServerError || !errorLogged(logs, "request failed", 2, r.Header.Get("X-Request-ID")) {
			t.Fatalf("GET %s after a row changed under the running service = %d %s", path, r.Status, r.Body)
		}
	}
}

func TestAuditHeadOfALastEventWithAnEditedHashIsA500NamingItsPosition(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	servicetest.IssueAndSaveHead(t, path, 3)
	servicetest.Tamper(t, path, `UPDATE events SET hash = NULL WHERE position = 3`)
	svc, logs := startLoggedOn(t, path)
	c := servicetest.NewClient(t, svc)
	r := c.Do("GET", "/audit/head", nil)
	id := r.Header.Get("X-Request-ID")
	if p := r.JSON(t); r.Status != http.StatusInternalServerError || p["request_id"] != id {
		t.Fatalf("GET /audit/head on a NULL last hash = %d %s, want a 500 problem with request id %s", r.Status, r.Body, id)
	}
	if !errorLogged(logs, "request failed", 3, id) {
		t.Errorf("no ERROR line naming position 3 and request id %s:\n%s", id, logs.String())
	}
}
