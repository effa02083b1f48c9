package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
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
	families := newClient(t, mustStart(t, testConfig(t.TempDir()))).scrape() // a fresh service, before any request
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
	families := newClient(t, mustStart(t, testConfig(t.TempDir()))).scrape()
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
				found = found || hasLabels(m, labels)
			}
			if !found {
				t.Errorf("%s%v is not served before its first increment", name, labels)
			}
		}
	}
}
