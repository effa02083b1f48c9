package main

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"go.yaml.in/yaml/v4"
)

// metricNamePattern matches the metric names ticketd serves in a PromQL
// expression: its own, the Go runtime's and the process's.
var metricNamePattern = regexp.MustCompile(`\b(?:ticketd|go|process)_[a-z0-9_]*[a-z0-9]\b`)

// dashboardExprs returns every PromQL expression of the Grafana dashboard:
// its panels' targets and its variables' queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/grafana/ticketd.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/ticketd.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	return exprs
}

// served reports whether name is a metric in families: a family, or the
// _bucket, _sum or _count series of a histogram family.
func served(families map[string]*dto.MetricFamily, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := families[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				return true
			}
		}
	}
	return false
}

func TestEveryMetricOfTheAlertsAndDashboardIsServed(t *testing.T) {
	t.Parallel()
	families := servicetest.NewClient(t, servicetest.Start(t, servicetest.Config(t.TempDir()))).Scrape() // a fresh service, before any request
	alerts, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for file, exprs := range map[string][]string{"deploy/prometheus/alerts.yml": {string(alerts)}, "deploy/grafana/ticketd.json": dashboardExprs(t)} {
		var names []string
		for _, expr := range exprs {
			names = append(names, metricNamePattern.FindAllString(expr, -1)...)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if len(names) < 5 {
			t.Errorf("%s names only %v", file, names)
		}
		for _, name := range names {
			if !served(families, name) {
				t.Errorf("%s uses %s, which /metrics does not serve", file, name)
			}
		}
	}
}

func TestLabelledCountersStartAtZeroForTheirKnownLabels(t *testing.T) {
	t.Parallel()
	families := servicetest.NewClient(t, servicetest.Start(t, servicetest.Config(t.TempDir()))).Scrape()
	want := map[string][][]string{
		"ticketd_events_appended_total":       {{"type", "TicketIssued"}, {"type", "TicketRefunded"}},
		"ticketd_idempotency_replays_total":   {{"route", "/tickets/issue"}, {"route", "/tickets/refund"}},
		"ticketd_idempotency_conflicts_total": {{"route", "/tickets/issue"}, {"route", "/tickets/refund"}},
		"ticketd_http_requests_total": {{"route", "/tickets/issue", "status", "500"}, {"route", "/tickets/refund", "status", "503"},
			{"route", "/tickets/:ticket_id", "status", "500"}, {"route", "/events/stream", "status", "503"}},
	}
	for name, series := range want {
		for _, labels := range series {
			found := false
			for _, m := range families[name].GetMetric() {
				found = found || servicetest.HasLabels(m, labels)
			}
			if !found {
				t.Errorf("%s%v is not served before its first increment", name, labels)
			}
		}
	}
}

// composeService is what TestComposeFile reads of a docker-compose.yml
// service.
type composeService struct {
	Profiles []string `yaml:"profiles"`
	Build    *struct {
		Args map[string]string `yaml:"args"`
	} `yaml:"build"`
	Ports       []string          `yaml:"ports"`
	Environment map[string]string `yaml:"environment"`
}

// TestComposeFile: every published port is on 127.0.0.1; every ticketd
// service is built with the Dockerfile's VERSION and COMMIT; the profiles
// postgres and cluster, and the default ticketd, each have a log of their
// own (database, NATS stream and subjects), and the cluster's database is
// created beside the postgres image's POSTGRES_DB.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	// Variables take their defaults, as compose substitutes them when unset.
	file := regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(servicetest.RepoFile(t, "docker-compose.yml"), "$1")
	if err := yaml.Unmarshal([]byte(file), &compose); err != nil {
		t.Fatal(err)
	}
	dockerfile := servicetest.RepoFile(t, "Dockerfile")
	for name, svc := range compose.Services {
		for _, port := range svc.Ports {
			if !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond 127.0.0.1", name, port)
			}
		}
		if svc.Build == nil {
			continue
		}
		for _, arg := range []string{"VERSION", "COMMIT"} {
			if svc.Build.Args[arg] == "" || !strings.Contains(dockerfile, "\nARG "+arg) {
				t.Errorf("service %s: build arg %s %q; want it passed to the Dockerfile's ARG %s", name, arg, svc.Build.Args[arg], arg)
			}
		}
	}
	logs := map[string]string{}
	for _, name := range []string{"ticketd", "ticketd-postgres", "ticketd-1"} {
		env := compose.Services[name].Environment
		db, stream, subjects := env["TICKETD_DB"], env["TICKETD_NATS_STREAM"], env["TICKETD_NATS_SUBJECT_PREFIX"]
		if db != "" {
			u, err := url.Parse(db)
			if err != nil {
				t.Fatalf("service %s: TICKETD_DB: %v", name, err)
			}
			db = u.Path
		}
		for _, key := range []string{"db " + db, "stream " + stream, "subjects " + subjects} {
			if other, ok := logs[key]; ok {
				t.Errorf("services %s and %s share the %s", other, name, key)
			}
			logs[key] = name
		}
	}
	initdb := servicetest.RepoFile(t, "deploy/postgres/initdb/10-cluster-database.sql")
	if u, err := url.Parse(compose.Services["ticketd-1"].Environment["TICKETD_DB"]); err != nil || !strings.Contains(initdb, "CREATE DATABASE "+strings.TrimPrefix(u.Path, "/")+" ") {
		t.Errorf("deploy/postgres/initdb does not create the cluster's database %v", u)
	}
}
