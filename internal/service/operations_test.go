package service_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

func TestHealthzAnswersWhileTheProcessServes(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	if r := c.Do("GET", "/healthz", nil); r.Status != http.StatusOK || string(r.Body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", r.Status, r.Body)
	}
}

func TestMetricsMoveByExactAmounts(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	before := c.Scrape()

	ids := c.IssueOK(servicetest.SeedIssue, "Idempotency-Key", "metrics-key")
	c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "metrics-key")
	c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1), "Idempotency-Key", "metrics-key")
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	c.Do("GET", "/tickets/"+ids[0], nil)
	c.Do("GET", "/nowhere", nil)

	want := []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"ticketd_http_requests_total", []string{"route", "/tickets/issue", "status", "201"}, 1},
		{"ticketd_http_requests_total", []string{"route", "/tickets/issue", "status", "200"}, 1},
		{"ticketd_http_requests_total", []string{"route", "/tickets/issue", "status", "409"}, 1},
		{"ticketd_http_requests_total", []string{"route", "/tickets/refund", "status", "200"}, 1},
		{"ticketd_http_requests_total", []string{"route", "/tickets/:ticket_id", "status", "200"}, 1},
		{"ticketd_http_requests_total", []string{"route", "unmatched", "status", "404"}, 1},
		{"ticketd_http_request_duration_seconds_count", []string{"route", "/tickets/issue"}, 3},
		{"ticketd_events_appended_total", []string{"type", "TicketIssued"}, 2},
		{"ticketd_events_appended_total", []string{"type", "TicketRefunded"}, 1},
		{"ticketd_group_commit_batch_size_sum", nil, 2}, // the issue and the refund
		{"ticketd_group_commit_errors_total", nil, 0},
		{"ticketd_appends_rejected_total", nil, 0},
		{"ticketd_idempotency_replays_total", []string{"route", "/tickets/issue"}, 1},
		{"ticketd_idempotency_conflicts_total", []string{"route", "/tickets/issue"}, 1},
		{"ticketd_consumer_lag_events", []string{"consumer", service.EmbeddedRelayCheckpoint}, 0},
		{"ticketd_consumer_lag_events", []string{"consumer", projections.TicketsCheckpoint}, 0},
		{"ticketd_sse_streams_open", nil, 0},
	}
	var after map[string]*dto.MetricFamily
	moved := func(name string, labels ...string) float64 {
		return servicetest.MetricValue(after, name, labels...) - servicetest.MetricValue(before, name, labels...)
	}
	// A request is counted just after its response is sent, and the relay
	// moves on just after the projection: wait until everything is counted.
	servicetest.WaitUntil(t, "every request is counted and the relay caught up", func() bool {
		after = c.Scrape()
		for _, w := range want {
			if moved(w.name, w.labels...) < w.delta {
				return false
			}
		}
		return servicetest.MetricValue(after, "ticketd_consumer_lag_events", "consumer", service.EmbeddedRelayCheckpoint) == 0
	})
	for _, w := range want {
		if got := moved(w.name, w.labels...); got != w.delta {
			t.Errorf("%s%v moved by %v, want %v", w.name, w.labels, got, w.delta)
		}
	}
	commits, timed := moved("ticketd_group_commit_batch_size_count"), moved("ticketd_group_commit_duration_seconds_count")
	if commits < 1 || commits > 2 || timed != commits {
		t.Errorf("%v group commits with %v durations, want 1 or 2 of each", commits, timed)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if after[name] == nil {
			t.Errorf("%s is not exposed", name)
		}
	}

	t.Run("README lists every ticketd metric", func(t *testing.T) {
		documented := readmeMetrics(t)
		for name, family := range after {
			if !strings.HasPrefix(name, "ticketd_") {
				continue
			}
			doc, ok := documented[name]
			if !ok {
				t.Errorf("%s is not in the README's metrics table", name)
				continue
			}
			delete(documented, name)
			typ := strings.ToLower(family.GetType().String())
			var labels []string
			for _, l := range family.GetMetric()[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
			if doc.typ != typ || doc.labels != strings.Join(labels, ", ") || family.GetHelp() == "" {
				t.Errorf("%s is a %s with labels [%s] and help %q; the README says %s with [%s]",
					name, typ, strings.Join(labels, ", "), family.GetHelp(), doc.typ, doc.labels)
			}
		}
		for name := range documented {
			t.Errorf("the README lists %s, which is not exposed", name)
		}
	})
}

type readmeMetric struct{ typ, labels string }

// readmeMetrics returns the rows of the README's metrics table by name.
func readmeMetrics(t *testing.T) map[string]readmeMetric {
	t.Helper()
	rows := regexp.MustCompile("(?m)^\\| `(ticketd_\\w+)` \\| (\\w+) \\| (.*?) \\| .* \\|$").FindAllStringSubmatch(servicetest.RepoFile(t, "docs/operating.md"), -1)
	if len(rows) == 0 {
		t.Fatal("docs/operating.md has no metrics table")
	}
	out := map[string]readmeMetric{}
	for _, r := range rows {
		var labels []string
		for _, l := range regexp.MustCompile("`(\\w+)`").FindAllStringSubmatch(r[3], -1) {
			labels = append(labels, l[1])
		}
		out[r[1]] = readmeMetric{typ: r[2], labels: strings.Join(labels, ", ")}
	}
	return out
}

func TestOneLogLinePerRequestWithTheRequestIDTheClientSaw(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.ConsistencyTimeout = 200 * time.Millisecond
	svc, logs, stop := servicetest.StartLogged(t, cfg)
	c := servicetest.NewClient(t, svc)

	type sent struct {
		id, route string
		status    int
		issued    float64
		refunded  float64
	}
	var requests []sent
	send := func(method, path string, body any, route string, issued, refunded float64) servicetest.Response {
		id := "log-" + strconv.Itoa(len(requests))
		r := c.Do(method, path, body, "X-Request-ID", id)
		requests = append(requests, sent{id, route, r.Status, issued, refunded})
		return r
	}
	ids := send("POST", "/tickets/issue", servicetest.SeedIssue, "/tickets/issue", 2, 0).JSON(t)["ticket_ids"].([]any)
	send("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]}, "/tickets/refund", 0, 1)
	send("GET", "/tickets/nope", nil, "/tickets/:ticket_id", 0, 0)
	send("POST", "/tickets/issue", `{"price_krw": 1.5}`, "/tickets/issue", 0, 0)
	send("DELETE", "/tickets", nil, "unmatched", 0, 0)
	send("GET", "/", nil, "/", 0, 0)
	send("GET", "/metrics", nil, "/metrics", 0, 0)
	c.Do("GET", "/healthz", nil) // probes log at DEBUG: TestAccessLogNamesClientAndRoleAndProbesLogAtDebug
	c.Do("HEAD", "/readyz", nil)
	servicetest.HoldProjection(t, svc)
	lagging := send("POST", "/tickets/issue", servicetest.SeedIssue, "/tickets/issue", 2, 0)
	if lagging.Status != http.StatusCreated || lagging.Header.Get("Ticketd-Consistency") != "pending" {
		t.Fatalf("issue with the projection held: %d %s", lagging.Status, lagging.Body)
	}
	stop() // every handler has returned, so every line is written

	byID := map[string][]servicetest.LogLine{}
	requestLines := 0
	for _, line := range servicetest.DecodeLogLines(t, logs.String()) {
		if id := line.Str("request_id"); id != "" {
			byID[id] = append(byID[id], line)
		}
		if line.Str("msg") == "request" {
			requestLines++
		}
	}
	if requestLines != len(requests) {
		t.Errorf("%d request log lines for %d requests", requestLines, len(requests))
	}
	for _, r := range requests {
		var access []servicetest.LogLine
		for _, line := range byID[r.id] {
			if line.Str("msg") == "request" {
				access = append(access, line)
			}
		}
		if len(access) != 1 {
			t.Errorf("request %s has %d access log lines", r.id, len(access))
			continue
		}
		l := access[0]
		if l.Str("route") != r.route || l["status"] != float64(r.status) || l["tickets_issued"] != nilIfZero(r.issued) || l["tickets_refunded"] != nilIfZero(r.refunded) {
			t.Errorf("request %s (%s, %d, issued %v, refunded %v) logged as %v", r.id, r.route, r.status, r.issued, r.refunded, l)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("request %s: duration_ms = %v", r.id, l["duration_ms"])
		}
	}
	lagLines := byID[requests[len(requests)-1].id]
	if len(lagLines) != 2 || lagLines[0].Str("level") != "WARN" || lagLines[0].Str("msg") != "command committed but read model lags" {
		t.Errorf("the pending answer is not explained in the log under the request id the client saw: %v", lagLines)
	}
}

// nilIfZero is how an absent count decodes from a log line.
func nilIfZero(n float64) any {
	if n == 0 {
		return nil
	}
	return n
}

// A group commit on PostgreSQL holds the global append lock; how long is
// observed for every commit, and SQLite, which has no such lock, observes
// nothing.
func TestAppendLockHoldIsObservedOnPostgres(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		c.IssueOK(servicetest.SeedIssue)
		c.IssueOK(servicetest.SeedIssue)
		holds := servicetest.MetricValue(c.Scrape(), "ticketd_append_lock_hold_seconds_count")
		if want := map[string]float64{"sqlite": 0, "postgres": 2}[e.Name]; holds != want {
			t.Fatalf("%s: ticketd_append_lock_hold_seconds_count = %v after two issues, want %v", e.Name, holds, want)
		}
	})
}
