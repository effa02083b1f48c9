package service_test

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

// sellThroughTheAPI issues 2 tickets at CGV 강남 (영화 A, 15000), 1 at
// 메가박스 (영화 B, 9000), refunds one of the first two and returns the
// refund's Ticketd-Position.
func sellThroughTheAPI(t *testing.T, c *servicetest.Client) string {
	t.Helper()
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "movie_title", "영화 A", "quantity", 2))
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "theater_name", "메가박스", "movie_title", "영화 B", "price_krw", 9000, "quantity", 1))
	r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	if r.Status != http.StatusOK {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	return r.Header.Get("Ticketd-Position")
}

func TestStatsSalesCountIssuesRefundsAndRevenueReadingYourWrites(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	pos := sellThroughTheAPI(t, c)
	rows, body := servicetest.SalesOf(t, c, "by=theater", servicetest.HeaderMinPosition, pos)
	if want := map[string][3]int64{"CGV 강남": {2, 1, 15000}, "메가박스": {1, 0, 9000}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("by theater: %v, want %v", rows, want)
	}
	if body["position"] != float64(4) || body["total"] != float64(2) || body["by"] != "theater" {
		t.Errorf("by theater body: %v", body)
	}
	if rows, _ := servicetest.SalesOf(t, c, "by=movie", servicetest.HeaderMinPosition, pos); !reflect.DeepEqual(rows, map[string][3]int64{"영화 A": {2, 1, 15000}, "영화 B": {1, 0, 9000}}) {
		t.Errorf("by movie: %v", rows)
	}
	if rows, body := servicetest.SalesOf(t, c, "by=theater&limit=1&offset=1"); len(rows) != 1 || rows["메가박스"] == ([3]int64{}) || body["total"] != float64(2) {
		t.Errorf("second page of one: %v %v", rows, body)
	}
	if rows, body := servicetest.SalesOf(t, c, ""); len(rows) != 2 || body["by"] != "theater" || body["limit"] != float64(100) {
		t.Errorf("defaults: %v %v", rows, body)
	}
}

func TestStatsTimelineCountsEachMinuteAndTotals(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	pos := sellThroughTheAPI(t, c)
	r := c.Do("GET", "/stats/timeline?minutes=5", nil, servicetest.HeaderMinPosition, pos)
	if r.Status != http.StatusOK {
		t.Fatalf("timeline: %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	minutes := body["minutes"].([]any)
	if len(minutes) != 5 {
		t.Fatalf("%d minutes, want 5", len(minutes))
	}
	var issued, canceled float64
	var starts []time.Time
	for _, m := range minutes {
		m := m.(map[string]any)
		issued, canceled = issued+m["issued"].(float64), canceled+m["canceled"].(float64)
		start, err := time.Parse(time.RFC3339, m["start"].(string))
		if err != nil || start.Second() != 0 {
			t.Fatalf("start %v: %v", m["start"], err)
		}
		starts = append(starts, start)
	}
	if issued != 3 || canceled != 1 {
		t.Errorf("minutes count %v issued and %v canceled, want 3 and 1", issued, canceled)
	}
	if last := starts[4]; time.Since(last) < 0 || time.Since(last) > 2*time.Minute || starts[4].Sub(starts[0]) != 4*time.Minute {
		t.Errorf("minutes %v do not end at the current one", starts)
	}
	want := map[string]any{"issued": float64(3), "canceled": float64(1), "revenue_krw": float64(24000)}
	if !reflect.DeepEqual(body["totals"], want) || body["position"] != float64(4) {
		t.Errorf("totals %v at %v, want %v at 4", body["totals"], body["position"], want)
	}
	if r := c.Do("GET", "/stats/timeline", nil); r.Status != 200 || len(r.JSON(t)["minutes"].([]any)) != 60 {
		t.Errorf("default timeline: %d %s", r.Status, r.Body)
	}
}

func TestStatsBadParametersAre400NamingEveryField(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	c.IssueOK(servicetest.SeedIssue)
	head := c.LogHead()
	tests := []struct {
		path    string
		headers []string
		fields  []string
	}{
		{"/stats/sales?by=user&limit=0&offset=-1", []string{servicetest.HeaderMinPosition, "-3"}, []string{"by", "limit", "offset", servicetest.HeaderMinPosition}},
		{"/stats/sales?limit=1001", nil, []string{"limit"}},
		{"/stats/sales?by=Theater&offset=x", nil, []string{"by", "offset"}},
		{"/stats/timeline?minutes=0", nil, []string{"minutes"}},
		{"/stats/timeline?minutes=1441", []string{servicetest.HeaderMinPosition, "1", servicetest.HeaderMinPosition, "2"}, []string{"minutes", servicetest.HeaderMinPosition}},
		{"/stats/timeline?minutes=1.5", nil, []string{"minutes"}},
	}
	for _, tt := range tests {
		r := c.Do("GET", tt.path, nil, tt.headers...)
		if got := servicetest.ProblemFields(t, r); r.Status != http.StatusBadRequest || !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.fields))) {
			t.Errorf("GET %s: %d naming %v, want 400 naming %v", tt.path, r.Status, got, tt.fields)
		}
	}
	if c.LogHead() != head {
		t.Errorf("bad reads wrote to the log")
	}
}

func TestStatsWaitForTheirMinPositionOnTheSalesProjection(t *testing.T) {
	t.Parallel()
	timeout := 300 * time.Millisecond
	svc, c := servicetest.StartWithConsistencyTimeout(t, timeout)
	c.IssueOK(servicetest.SeedIssue)
	svc.Projector(projections.SalesCheckpoint).Stop()
	<-svc.Projector(projections.SalesCheckpoint).Stopped()
	pos := fmt.Sprint(c.LogHead() + 1)
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1)) // the tickets projection has it, the sales one not
	for _, path := range []string{"/stats/sales", "/stats/timeline"} {
		r := c.Do("GET", path, nil, servicetest.HeaderMinPosition, pos)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s beyond the sales projection: %d %s; want 503 with Retry-After", path, r.Status, r.Body)
		}
	}
	if _, err := svc.ReadModels().Sales.CatchUp(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if rows, _ := servicetest.SalesOf(t, c, "", servicetest.HeaderMinPosition, pos); rows["CGV 강남"][0] != 3 {
		t.Errorf("after catching up: %v", rows)
	}
}

func TestDashboardIsServedFromTheBinaryWithItsHooks(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	page := c.Do("GET", "/dashboard", nil)
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("GET /dashboard: %d %v", page.Status, page.Header)
	}
	for _, hook := range []string{"data-connection", "data-feed", `data-table="theater"`, `data-table="movie"`, "data-chart", "data-key-form", `src="/dashboard/app.js"`, `href="/dashboard/app.css"`} {
		if !strings.Contains(string(page.Body), hook) {
			t.Errorf("the page lacks %s", hook)
		}
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for path, ctype := range map[string]string{"/dashboard": "text/html", "/dashboard/app.js": "text/javascript", "/dashboard/app.css": "text/css"} {
		r := c.Do("GET", path, nil)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Header.Get("Content-Type"))
		}
		for _, url := range external.FindAllString(string(r.Body), -1) {
			if url != "http://www.w3.org" { // the SVG namespace, never fetched
				t.Errorf("%s names another origin: %s", path, url)
			}
		}
	}
	js := string(c.Do("GET", "/dashboard/app.js", nil).Body)
	for _, want := range []string{"sessionStorage", "'Authorization', 'Bearer '", "'Last-Event-ID'", "'Ticketd-Min-Position'", "'/events/stream'"} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
}
