package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
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

func TestReadyzReportsAProjectionHeldBehindUntilItCatchesUp(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.ReadyMaxLag = 2
	svc := servicetest.Start(t, cfg)
	c := servicetest.NewClient(t, svc)
	c.IssueOK(servicetest.SeedIssue)

	if status, body := c.Readyz(); status != http.StatusOK || body.Status != "ready" || len(body.Checks) != 5 { // database, chain, disk, projection, relay
		t.Fatalf("readyz of a caught-up service: %d %+v", status, body)
	}

	servicetest.HoldProjection(t, svc)
	servicetest.AppendIssued(t, svc, 3)
	var body servicetest.Readiness
	servicetest.WaitUntil(t, "readyz reports the projection 3 events behind and the relay caught up", func() bool {
		var status int
		status, body = c.Readyz()
		p := body.Checks[projections.TicketsCheckpoint]
		return status == http.StatusServiceUnavailable && p.LagEvents != nil && *p.LagEvents == 3 &&
			body.Checks[service.EmbeddedRelayCheckpoint].Status == "ok"
	})
	if p := body.Checks[projections.TicketsCheckpoint]; p.Status != "failing" {
		t.Errorf("projection check = %+v, want failing", p)
	}
	if body.Checks["database"].Status != "ok" {
		t.Errorf("database check = %+v, want ok", body.Checks["database"])
	}
	if want := "Not ready: projection:tickets is 3 events behind the log head 5 (at most 2 allowed)."; body.Detail != want {
		t.Errorf("detail = %q, want %q", body.Detail, want)
	}
	if r := c.Do("GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz: %d, want 503", r.Status)
	} else if err := matchDocOutput(documentedNotReady(t), string(r.Body)); err != nil {
		t.Errorf("docs/operating.md's not-ready example does not have the fields of the 503 body: %v\n%s", err, r.Body)
	}
	m := c.Scrape()
	if lag := servicetest.MetricValue(m, "ticketd_consumer_lag_events", "consumer", projections.TicketsCheckpoint); lag != 3 {
		t.Errorf("projection lag = %v events, want 3", lag)
	}
	if lag := servicetest.MetricValue(m, "ticketd_consumer_lag_seconds", "consumer", projections.TicketsCheckpoint); lag <= 0 || lag > 60 {
		t.Errorf("projection lag = %v s, want a few ms", lag)
	}

	if n, err := svc.ReadModels().Tickets.CatchUp(context.Background(), nil); err != nil || n != 3 {
		t.Fatalf("catch up: %d, %v", n, err)
	}
	if status, body := c.Readyz(); status != http.StatusOK || *body.Checks[projections.TicketsCheckpoint].LagEvents != 0 {
		t.Fatalf("readyz after catching up: %d %+v", status, body)
	}
	m = c.Scrape()
	for _, name := range []string{"ticketd_consumer_lag_events", "ticketd_consumer_lag_seconds"} {
		if lag := servicetest.MetricValue(m, name, "consumer", projections.TicketsCheckpoint); lag != 0 {
			t.Errorf("%s after catching up = %v, want 0", name, lag)
		}
	}
}

// documentedNotReady returns the 503 body of /readyz that
// docs/operating.md shows.
func documentedNotReady(t *testing.T) string {
	t.Helper()
	text := doc(t, "docs/operating.md")
	_, after, ok := strings.Cut(text, "Not ready (`503`")
	if !ok {
		t.Fatal("docs/operating.md shows no not-ready example")
	}
	fences := docFences(after)
	if len(fences) == 0 || fences[0].info != "json" {
		t.Fatal("docs/operating.md's not-ready example is not a JSON block")
	}
	return fences[0].text
}

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
	rows := regexp.MustCompile("(?m)^\\| `(ticketd_\\w+)` \\| (\\w+) \\| (.*?) \\| .* \\|$").FindAllStringSubmatch(doc(t, "docs/operating.md"), -1)
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

func readme(t *testing.T) string {
	t.Helper()
	return doc(t, "README.md")
}

// doc returns the text of the repository's file at path, such as
// "docs/operating.md".
func doc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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

func TestServeConfigurationMistakesFailInOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--max-header-bytes", "0"},
		{"--ready-max-lag", "0"},
		{"--ready-max-lag", "many"},
		{"--write-timeout", "-1s"},
		{"--debug-addr", "localhost"},
		{"--min-free-bytes", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve"}, args...), nil, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit 2 and one line naming the flag", args, code, stderr.String())
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	tests := []struct {
		addr string
		code int
	}{
		{svc.Addr(), 0},
		{"http://" + svc.Addr(), 0},
		{"http://" + svc.Addr() + "/", 0},
		{freeAddr(t), 1},
		{"no-port", 2},
		{"https://" + svc.Addr(), 2},
		{"http://" + svc.Addr() + "/healthz", 2},
		{"http://localhost", 2},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"healthcheck", "--addr", tt.addr}, nil, &stdout, &stderr); code != tt.code {
			t.Errorf("healthcheck --addr %s: exit %d, want %d\n%s%s", tt.addr, code, tt.code, stdout.String(), stderr.String())
		}
		if tt.code == 2 && !strings.Contains(stderr.String(), "want host:port (as serve's --addr) or http://host:port") {
			t.Errorf("healthcheck --addr %s: stderr %q does not say which forms it takes", tt.addr, stderr.String())
		}
	}
	for addr, want := range map[string]string{
		":9000":          "http://127.0.0.1:9000/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:9000":      "http://[::1]:9000/healthz",
		"10.0.0.7:9000":  "http://10.0.0.7:9000/healthz",
		"localhost:9000": "http://localhost:9000/healthz",
	} {
		if got, err := healthzURL(addr); err != nil || got != want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

// helpFlag is one flag as `ticketd serve --help` lists it.
type helpFlag struct{ env, def, meaning string }

func serveHelp(t *testing.T) map[string]helpFlag {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("serve --help: exit %d", code)
	}
	flags := map[string]helpFlag{}
	entry := regexp.MustCompile(`(?m)^  --(\S+) (\w+)\n    \t(.*) \[\$(\w+)\] \(default ("(?:[^"\\]|\\.)*"|[^"\n]*)\)$`)
	for _, m := range entry.FindAllStringSubmatch(stdout.String()+stderr.String(), -1) {
		def := m[5]
		if m[2] == "string" {
			var err error
			if def, err = strconv.Unquote(def); err != nil {
				t.Fatalf("--%s: string default %s is not quoted: %v", m[1], def, err)
			}
		}
		flags[m[1]] = helpFlag{env: m[4], def: def, meaning: m[3]}
	}
	if len(flags) == 0 {
		t.Fatal("no flags found in serve --help")
	}
	return flags
}

func TestReadmeConfigurationTableMatchesServeHelp(t *testing.T) {
	t.Parallel()
	help := serveHelp(t)
	rows := regexp.MustCompile("(?m)^\\| `--(\\S+)` \\| `(\\w+)` \\| `(.*?)` \\| (.*) \\|$").FindAllStringSubmatch(doc(t, "docs/configuration.md"), -1)
	documented := map[string]bool{}
	for _, r := range rows {
		name, row := r[1], helpFlag{env: r[2], def: r[3], meaning: r[4]}
		documented[name] = true
		if want, ok := help[name]; !ok {
			t.Errorf("README documents --%s, which serve does not have", name)
		} else if row != want {
			t.Errorf("README row of --%s = %+v, serve --help says %+v", name, row, want)
		}
	}
	for name := range help {
		if !documented[name] {
			t.Errorf("--%s is not in the README's configuration table", name)
		}
	}
}

func TestContainerBuildsWhatCIBuilds(t *testing.T) {
	t.Parallel()
	read := func(path string) string {
		b, err := os.ReadFile("../../" + path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dockerfile, ci := read("Dockerfile"), read(".ci/run")
	if strings.Contains(dockerfile, "go build") {
		t.Error("the Dockerfile runs go build itself instead of scripts/build.sh")
	}
	if n := len(regexp.MustCompile(`(?m)^RUN .*scripts/build\.sh`).FindAllString(dockerfile, -1)); n != 1 {
		t.Errorf("the Dockerfile runs scripts/build.sh %d times, want 1", n)
	}
	if !regexp.MustCompile(`(?m)^[^#]*scripts/build\.sh`).MatchString(ci) {
		t.Error(".ci/run does not run scripts/build.sh")
	}
	// One test command: .ci/run and README.md run scripts/test, not go test ./... themselves.
	if !regexp.MustCompile(`(?m)^scripts/test$`).MatchString(ci) || regexp.MustCompile(`(?m)^go test [^\n]*\./\.\.\.`).MatchString(ci) {
		t.Error(".ci/run does not run the test suite with scripts/test")
	}
	if readme := read("README.md"); !strings.Contains(readme, "\nscripts/test\n") || strings.Contains(readme, "go test -race -count=1 ./...") {
		t.Error("README.md's test command is not scripts/test")
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(read("go.mod"))
	if !strings.Contains(dockerfile, "ARG GO_VERSION="+goVersion[1]+"\n") {
		t.Errorf("the Dockerfile's GO_VERSION is not go.mod's go %s", goVersion[1])
	}
	if !strings.Contains(dockerfile, `CMD ["ticketd", "healthcheck"]`) {
		t.Error("the Dockerfile's HEALTHCHECK does not run ticketd healthcheck")
	}
	if !strings.Contains(dockerfile, "EXPOSE "+strings.TrimPrefix(serveHelp(t)["addr"].def, ":")+"\n") {
		t.Error("the Dockerfile does not expose the default port")
	}
	if code := run(context.Background(), []string{"healthcheck", "--help"}, nil, io.Discard, io.Discard); code != 0 {
		t.Errorf("ticketd healthcheck --help: exit %d", code)
	}
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
