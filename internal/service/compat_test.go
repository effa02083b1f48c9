package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file hold the service to what clients of the original
// (FastAPI) service rely on beyond the documented shapes: how it reads
// repeated query parameters and nulls, HEAD, and trailing slashes.

// TestNullQuantityAndMembersGivenTwiceAre400 guards two body rules: null is
// not an integer (the original refused it too), and a member given twice is
// refused rather than resolved to its last value as the original did.
func TestNullQuantityAndMembersGivenTwiceAre400(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	for _, tc := range []struct{ name, path, body, field string }{
		{"quantity null", "/tickets/issue", `{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":1,"quantity":null}`, "quantity"},
		{"price_krw twice", "/tickets/issue", `{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":1,"price_krw":2}`, "price_krw"},
		{"ticket_ids twice", "/tickets/refund", `{"ticket_ids":["x"],"ticket_ids":["y"]}`, "ticket_ids"},
	} {
		if r := c.Do("POST", tc.path, tc.body); r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{tc.field}) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.Status, r.Body, tc.field)
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("refused bodies appended %d events", n)
	}
}

func TestQueryParameterGivenTwiceTakesTheLastValue(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	ids := c.IssueOK(servicetest.SeedIssue) // positions 1 and 2
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	for _, tc := range []struct{ path, field string }{
		{"/tickets?limit=5&limit=1", "limit"},
		{"/tickets?status=bogus&status=canceled", "total"},
		{"/tickets?offset=-1&offset=1", "offset"},
		{"/events?limit=1000&limit=1&after=-1&after=1", "next_after"},
		{"/tickets/" + ids[0] + "?as_of=0&as_of=1", "status"},
	} {
		r := c.Do("GET", tc.path, nil)
		if r.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200 (the last values are valid)", tc.path, r.Status, r.Body)
			continue
		}
		want := map[string]any{"limit": float64(1), "total": float64(1), "offset": float64(1), "next_after": float64(2), "status": "issued"}[tc.field]
		if got := r.JSON(t)[tc.field]; got != want {
			t.Errorf("GET %s: %s = %v, want %v", tc.path, tc.field, got, want)
		}
	}
	if r := c.Do("GET", "/tickets?limit=1&limit=0", nil); r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{"limit"}) {
		t.Errorf("limit=1&limit=0: %d %s, want 400 naming limit", r.Status, r.Body)
	}
}

// documentedGETs are a path for every GET operation of the OpenAPI
// document, some with answers other than 200, with a real ticket id in them.
func documentedGETs(ticketID string) []string {
	return []string{"/", "/tickets", "/tickets?status=bogus", "/tickets/" + ticketID, "/tickets/nope",
		"/tickets/" + ticketID + "?as_of=1", "/tickets/" + ticketID + "/events", "/events", "/events?limit=0",
		"/events/stream?from=start", "/audit/verify", "/openapi.json", "/docs", "/redoc", "/healthz", "/readyz", "/metrics"}
}

// docsAssets are GET routes the document leaves out: the docs pages' assets.
var docsAssets = []string{"/docs/swagger-ui.css", "/redoc/redoc.standalone.js"}

// variableBodies are the routes whose bodies (and so lengths) change from one
// request to the next: timings, counters and lags.
var variableBodies = map[string]bool{"/audit/verify": true, "/readyz": true, "/metrics": true}

// exchange sends a request without following redirects or decoding
// compression and returns its response with the body read, or for an event
// stream only its first bytes.
func exchange(t *testing.T, method, url string, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var got []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		got = make([]byte, 1)
		n, _ := io.ReadAtLeast(resp.Body, got, 1)
		return resp, got[:n]
	}
	if got, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, got
}

func TestHEADIsAnsweredAsGETWithoutABody(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.SeedIssue)
	documented := documentedGETs(ids[0])
	for _, path := range append(documented, docsAssets...) {
		get, getBody := exchange(t, http.MethodGet, c.Base+path, "")
		head, headBody := exchange(t, http.MethodHead, c.Base+path, "")
		if head.StatusCode != get.StatusCode {
			t.Errorf("HEAD %s: status %d, GET %d", path, head.StatusCode, get.StatusCode)
		}
		if len(headBody) != 0 || len(getBody) == 0 {
			t.Errorf("%s: HEAD sent %d body bytes, GET %d; want none and some", path, len(headBody), len(getBody))
		}
		for _, h := range []http.Header{get.Header, head.Header} {
			h.Del("Date")
			h.Del("X-Request-ID")
			if variableBodies[strings.SplitN(path, "?", 2)[0]] {
				h.Del("Content-Length")
			}
		}
		if !reflect.DeepEqual(head.Header, get.Header) {
			t.Errorf("HEAD %s headers\n%v\ndiffer from GET's\n%v", path, head.Header, get.Header)
		}
		if cl := get.Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(getBody)) {
			t.Errorf("GET %s: Content-Length %s for %d bytes", path, cl, len(getBody))
		}
		if slices.Contains(documented, path) && !strings.HasPrefix(path, "/events/stream") {
			c.Do(http.MethodHead, path, nil) // conforms to the document's HEAD operation
		}
	}
}

func TestTrailingSlashIsAnsweredAsThePathWithout(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	c := servicetest.NewClient(t, svc)
	id := c.IssueOK(servicetest.SeedIssue)[0]
	documented := documentedGETs(id)
	issue := `{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":1}`
	type request struct{ method, path, body string }
	requests := []request{{"POST", "/tickets/issue", issue}, {"POST", "/tickets/refund", `{"ticket_ids":["nope"]}`},
		{"POST", "/tickets", issue}, {"GET", "/tickets/issue", ""}, {"GET", "/nope", ""}}
	for _, path := range append(documented, docsAssets...) {
		requests = append(requests, request{"GET", path, ""})
	}
	for _, r := range requests {
		path, query, _ := strings.Cut(r.path, "?")
		if path == "/" {
			continue
		}
		slashed := path + "/"
		if query != "" {
			slashed += "?" + query
		}
		want, wantBody := exchange(t, r.method, c.Base+r.path, r.body)
		got, gotBody := exchange(t, r.method, c.Base+slashed, r.body)
		if got.StatusCode != want.StatusCode || got.Header.Get("Content-Type") != want.Header.Get("Content-Type") ||
			len(gotBody) == 0 != (len(wantBody) == 0) {
			t.Errorf("%s %s: %d %s %q, but %s %s is %d %s", r.method, slashed, got.StatusCode, got.Header.Get("Content-Type"), gotBody,
				r.method, r.path, want.StatusCode, want.Header.Get("Content-Type"))
		}
		if slices.Contains(documented, r.path) && !strings.HasPrefix(path, "/events/stream") {
			c.Do(r.method, slashed, nil) // conforms to the document
		}
	}
}
