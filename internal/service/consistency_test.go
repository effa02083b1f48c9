package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// requireAnswer fails the test unless r has the status, Ticketd-Position and
// Ticketd-Consistency ("" for none) given.
func requireAnswer(t *testing.T, what string, r servicetest.Response, status int, position int64, consistency string) {
	t.Helper()
	if r.Status != status || r.Header.Get(servicetest.HeaderPosition) != strconv.FormatInt(position, 10) || r.Header.Get(servicetest.HeaderConsistency) != consistency {
		t.Fatalf("%s: %d, %s %q, %s %q; want %d, %d, %q\n%s", what, r.Status, servicetest.HeaderPosition, r.Header.Get(servicetest.HeaderPosition),
			servicetest.HeaderConsistency, r.Header.Get(servicetest.HeaderConsistency), status, position, consistency, r.Body)
	}
}

// linesOf returns the log lines of request id.
func linesOf(t *testing.T, logs *servicetest.SyncBuffer, id string) []servicetest.LogLine {
	t.Helper()
	var mine []servicetest.LogLine
	for _, line := range servicetest.DecodeLogLines(t, logs.String()) {
		if line.Str("request_id") == id {
			mine = append(mine, line)
		}
	}
	return mine
}

func TestCommittedCommandsAnswerTheirRealStatusMarkedPendingWhenTheProjectionIsLate(t *testing.T) {
	t.Parallel()
	svc, c := servicetest.StartWithConsistencyTimeout(t, 300*time.Millisecond)

	requireAnswer(t, "issue while the projection keeps up", c.Do("POST", "/tickets/issue", servicetest.SeedIssue), http.StatusCreated, 2, "")

	servicetest.HoldProjection(t, svc)
	issued := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "late-issue")
	requireAnswer(t, "issue with the projection held", issued, http.StatusCreated, 4, "pending")
	ids := servicetest.TicketIDs(t, issued)
	if issued.Header.Get("Location") != "/tickets/"+ids[0] {
		t.Errorf("pending issue: Location %q", issued.Header.Get("Location"))
	}
	refunded := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	requireAnswer(t, "refund with the projection held", refunded, http.StatusOK, 5, "pending")
	if got := refunded.JSON(t)["refunded"]; len(got.([]any)) != 1 {
		t.Errorf("pending refund: refunded %v", got)
	}
	replayed := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "late-issue")
	requireAnswer(t, "replay of the held issue", replayed, http.StatusOK, 4, "pending")
	if replayed.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replayed.Body, issued.Body) {
		t.Errorf("replay: Idempotent-Replayed %q, body %s", replayed.Header.Get("Idempotent-Replayed"), replayed.Body)
	}
	// Commands that append nothing answer the head; a refusal is not pending.
	requireAnswer(t, "refund of nothing", c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{"abc"}}), http.StatusOK, 5, "pending")
	requireAnswer(t, "key reused with another request", c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1), "Idempotency-Key", "late-issue"), http.StatusConflict, 5, "")
	requireAnswer(t, "invalid issue", c.Do("POST", "/tickets/issue", `{"price_krw": 1.5}`), http.StatusBadRequest, 5, "")

	if n := c.LogHead(); n != 5 {
		t.Errorf("the log holds %d events, want the 5 committed", n)
	}
	if events := c.Do("GET", "/tickets/"+ids[0]+"/events", nil).JSON(t)["events"].([]any); len(events) != 2 {
		t.Errorf("the refunded ticket's stream has %d events, want 2", len(events))
	}
	if r := c.Do("GET", "/tickets/"+ids[0], nil); r.Status != http.StatusNotFound {
		t.Errorf("the projection was not late: GET /tickets/{id} = %d", r.Status)
	}
}

func TestReadsWaitForTheirMinPositionThenAnswer503WithRetryAfter(t *testing.T) {
	t.Parallel()
	timeout := 300 * time.Millisecond
	_, c := servicetest.StartWithConsistencyTimeout(t, timeout)
	id := c.IssueOK(servicetest.SeedIssue)[0]

	for _, path := range []string{"/tickets", "/tickets/" + id, "/tickets/" + id + "?as_of=1"} {
		if r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, "2"); r.Status != http.StatusOK {
			t.Errorf("GET %s at the head: %d %s", path, r.Status, r.Body)
		}
		start := time.Now()
		r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, "3")
		if took := time.Since(start); took < timeout {
			t.Errorf("GET %s beyond the head answered after %s, before the %s timeout", path, took, timeout)
		}
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s beyond the head: %d, Retry-After %q %s; want 503 with Retry-After", path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
}

func TestAMalformedMinPositionIs400NamingTheHeader(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	id := c.IssueOK(servicetest.SeedIssue)[0]
	paths := []string{"/tickets", "/tickets/" + id, "/tickets/" + id + "?as_of=1"}
	for _, bad := range []string{"", "abc", "-1", "+1", "1.5", "0x10", "99999999999999999999"} {
		for _, path := range paths {
			r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, bad)
			if fields := servicetest.ProblemFields(t, r); r.Status != http.StatusBadRequest || !slices.Equal(fields, []string{servicetest.HeaderMinPosition}) {
				t.Errorf("GET %s with %s %q: %d naming %v", path, servicetest.HeaderMinPosition, bad, r.Status, fields)
			}
		}
	}
	for _, path := range paths {
		r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, "1", servicetest.HeaderMinPosition, "2")
		if fields := servicetest.ProblemFields(t, r); r.Status != http.StatusBadRequest || !slices.Equal(fields, []string{servicetest.HeaderMinPosition}) {
			t.Errorf("GET %s with %s twice: %d naming %v", path, servicetest.HeaderMinPosition, r.Status, fields)
		}
	}
	for path, other := range map[string]string{"/tickets?limit=0": "limit", "/tickets/" + id + "?as_of=never": "as_of"} {
		r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, "x")
		if fields := servicetest.ProblemFields(t, r); r.Status != http.StatusBadRequest || !slices.Equal(fields, []string{servicetest.HeaderMinPosition, other}) {
			t.Errorf("GET %s with a bad %s: %d naming %v, want both", path, servicetest.HeaderMinPosition, r.Status, fields)
		}
	}
}

func TestAReadWithTheCommandsPositionSeesTheWrite(t *testing.T) {
	t.Parallel()
	svc, c := servicetest.StartWithConsistencyTimeout(t, 3*time.Second)

	servicetest.HoldProjection(t, svc)
	issued := c.Do("POST", "/tickets/issue", servicetest.SeedIssue)
	requireAnswer(t, "issue with the projection held", issued, http.StatusCreated, 2, "pending")
	id, token := servicetest.TicketIDs(t, issued)[0], issued.Header.Get(servicetest.HeaderPosition)
	if r := c.Do("GET", "/tickets/"+id, nil); r.Status != http.StatusNotFound {
		t.Fatalf("the projection was not late: GET /tickets/{id} without the token = %d", r.Status)
	}

	read := make(chan servicetest.Response, 1)
	go func() { read <- c.Do("GET", "/tickets/"+id, nil, servicetest.HeaderMinPosition, token) }()
	select {
	case r := <-read:
		t.Fatalf("GET with the token answered %d before the projection reached it", r.Status)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := svc.ReadModels().Tickets.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if r := <-read; r.Status != http.StatusOK || r.JSON(t)["id"] != id {
		t.Fatalf("GET with the token once the projection reached it: %d %s", r.Status, r.Body)
	}
	if r := c.Do("GET", "/tickets?user_id=user123", nil, servicetest.HeaderMinPosition, token); r.JSON(t)["total"] != float64(2) {
		t.Errorf("list with the token: %s", r.Body)
	}
}

func TestAClientGoneWhileWaitingIsLoggedAtInfoAs499NotAs5xx(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.ConsistencyTimeout = time.Minute
	svc, logs, stop := servicetest.StartLogged(t, cfg)
	c := servicetest.NewClient(t, svc)
	servicetest.HoldProjection(t, svc)
	before := c.Scrape()

	// gone sends a request as the client id, waits with until, then cancels it.
	gone := func(id, method, path, body string, until func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, c.Base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", id)
		if method == "GET" {
			req.Header.Set(servicetest.HeaderMinPosition, "100")
		}
		answered := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("answered %d", resp.StatusCode)
			}
			answered <- err
		}()
		until()
		cancel()
		if err := <-answered; !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v, want the client's own cancel", id, err)
		}
		servicetest.WaitUntil(t, id+" is logged", func() bool { return len(linesOf(t, logs, id)) == 2 })
	}
	gone("gone-issue", "POST", "/tickets/issue", `{"theater_name":"t","user_id":"u","movie_title":"m","price_krw":1}`, func() {
		servicetest.WaitUntil(t, "the issue is committed", func() bool { return svc.Store().Head() == 1 })
	})
	gone("gone-read", "GET", "/tickets", "", func() { time.Sleep(300 * time.Millisecond) })
	if n := c.LogHead(); n != 1 {
		t.Errorf("the log holds %d events, want the gone client's committed one", n)
	}
	m := c.Scrape()
	stop()

	for id, msg := range map[string]string{"gone-issue": "client gone after commit", "gone-read": "client gone while waiting for its position"} {
		lines := linesOf(t, logs, id)
		if lines[0].Str("level") != "INFO" || lines[0].Str("msg") != msg {
			t.Errorf("%s: first line %v, want INFO %q", id, lines[0], msg)
		}
		if access := lines[1]; access.Str("level") != "INFO" || access.Str("msg") != "request" || access["status"] != float64(499) {
			t.Errorf("%s: access log line %v, want INFO with status 499", id, access)
		}
	}
	for _, line := range servicetest.DecodeLogLines(t, logs.String()) {
		if line.Str("level") == "ERROR" && line.Str("request_id") != "" {
			t.Errorf("ERROR line about a request: %v", line)
		}
	}
	for _, route := range []string{"/tickets/issue", "/tickets"} {
		if d := servicetest.MetricValue(m, "ticketd_http_requests_total", "route", route, "status", "499") - servicetest.MetricValue(before, "ticketd_http_requests_total", "route", route, "status", "499"); d != 1 {
			t.Errorf("%s: %v requests counted as 499, want 1", route, d)
		}
		for _, status := range []string{"500", "503"} {
			if n := servicetest.MetricValue(m, "ticketd_http_requests_total", "route", route, "status", status); n != 0 {
				t.Errorf("%s: %v requests counted as %s", route, n, status)
			}
		}
	}
}

// TestParkedReadsAreBoundedByMaxWaitingReads fills --max-waiting-reads (2)
// with reads waiting for a position beyond the head, on two read models:
// one more read that would wait, even on a third, gets 503 with
// Retry-After at once and is counted, while a read whose position is
// reached never needs a slot; once the log reaches the position the parked
// reads answer 200 and their slots are free again.
func TestParkedReadsAreBoundedByMaxWaitingReads(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		cfg := e.Config(t)
		cfg.MaxWaitingReads, cfg.ConsistencyTimeout = 2, 30*time.Second
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		id := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))[0]
		head := int64(c.LogHead())
		beyond := strconv.FormatInt(head+2, 10)

		parked := make(chan int, 2)
		for _, path := range []string{"/tickets", "/stats/sales"} {
			go func() {
				req, _ := http.NewRequest("GET", "http://"+svc.Addr()+path, nil)
				req.Header.Set(servicetest.HeaderMinPosition, beyond)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					parked <- 0
					return
				}
				resp.Body.Close()
				parked <- resp.StatusCode
			}()
		}
		servicetest.WaitUntil(t, "two reads wait", func() bool { return servicetest.MetricValue(c.Scrape(), "ticketd_waiting_reads") == 2 })

		start := time.Now()
		r := c.Do("GET", "/tickets/"+id+"?as_of=1", nil, servicetest.HeaderMinPosition, beyond)
		if took := time.Since(start); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || took > 5*time.Second {
			t.Fatalf("a third read that would wait: %d, Retry-After %q after %s, want 503 with Retry-After at once: %s", r.Status, r.Header.Get("Retry-After"), took, r.Body)
		}
		if !strings.Contains(string(r.Body), "2 reads are already waiting") {
			t.Errorf("the refusal does not say why: %s", r.Body)
		}
		if r := c.Do("GET", "/tickets/"+id, nil, servicetest.HeaderMinPosition, strconv.FormatInt(head, 10)); r.Status != http.StatusOK {
			t.Errorf("a read at a reached position while the slots are taken: %d %s", r.Status, r.Body)
		}
		if got := servicetest.MetricValue(c.Scrape(), "ticketd_waiting_reads_refused_total"); got != 1 {
			t.Errorf("ticketd_waiting_reads_refused_total = %v, want 1", got)
		}

		c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2))
		for range 2 {
			if status := <-parked; status != http.StatusOK {
				t.Errorf("a parked read answered %d once its position was reached, want 200", status)
			}
		}
		servicetest.WaitUntil(t, "no read waits", func() bool { return servicetest.MetricValue(c.Scrape(), "ticketd_waiting_reads") == 0 })
		if r := c.Do("GET", "/tickets/"+id+"?as_of=1", nil, servicetest.HeaderMinPosition, beyond); r.Status != http.StatusOK {
			t.Errorf("a read after the slots were freed: %d %s", r.Status, r.Body)
		}
	})
}
