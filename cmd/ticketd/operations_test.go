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
	text := servicetest.RepoFile(t, "docs/operating.md")
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

func readme(t *testing.T) string {
	t.Helper()
	return servicetest.RepoFile(t, "README.md")
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
		{servicetest.FreeAddr(t), 1},
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
	rows := regexp.MustCompile("(?m)^\\| `--(\\S+)` \\| `(\\w+)` \\| `(.*?)` \\| (.*) \\|$").FindAllStringSubmatch(servicetest.RepoFile(t, "docs/configuration.md"), -1)
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
