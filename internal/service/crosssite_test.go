package service_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestPostsThatAreNotPlainJSONAre415NamingTheHeaderAndAppendNothing(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	refund := map[string]any{"ticket_ids": []string{"nope"}}
	tests := []struct {
		name    string
		headers []string
		field   string
	}{
		{"no Content-Type", []string{"Content-Type", ""}, "Content-Type"},
		{"text/plain", []string{"Content-Type", "text/plain"}, "Content-Type"},
		{"form", []string{"Content-Type", "application/x-www-form-urlencoded"}, "Content-Type"},
		{"multipart", []string{"Content-Type", "multipart/form-data; boundary=x"}, "Content-Type"},
		{"JSON lookalike", []string{"Content-Type", "application/json-patch+json"}, "Content-Type"},
		{"malformed parameters", []string{"Content-Type", "application/json; charset"}, "Content-Type"},
		{"gzip", []string{"Content-Encoding", "gzip"}, "Content-Encoding"},
		{"identity", []string{"Content-Encoding", "identity"}, "Content-Encoding"},
	}
	for _, tt := range tests {
		for path, body := range map[string]any{"/tickets/issue": servicetest.SeedIssue, "/tickets/refund": refund} {
			r := c.Do("POST", path, body, tt.headers...)
			if r.Status != http.StatusUnsupportedMediaType {
				t.Errorf("%s to %s: %d, want 415", tt.name, path, r.Status)
				continue
			}
			if fields := servicetest.ProblemFields(t, r); len(fields) != 1 || fields[0] != tt.field {
				t.Errorf("%s to %s: problem names %v, want [%s]", tt.name, path, fields, tt.field)
			}
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("415 requests appended %d events", n)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Content-Type", ct); r.Status != http.StatusCreated {
			t.Errorf("Content-Type %q: %d, want 201", ct, r.Status)
		}
	}
}

// corsHeaders returns the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for name, values := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			out[name] = values
		}
	}
	return out
}

// preflight sends the CORS preflight of a browser on origin about to POST
// with the given request headers, and checks the answer against the OpenAPI
// document.
func preflight(t *testing.T, c *servicetest.Client, path, origin, headers string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, c.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", headers)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c.CheckAgainstSpec(req, nil, resp, body)
	return resp
}

func TestCORSAnswersOnlyListedOriginsAndIsOffByDefault(t *testing.T) {
	t.Parallel()
	const listed, other = "https://box-office.example", "https://evil.example"
	cfg := servicetest.Config(t.TempDir())
	cfg.CORSOrigins = listed + ", http://localhost:3000"
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	off := servicetest.StartClient(t)

	resp := preflight(t, c, "/tickets/issue", listed, "content-type, idempotency-key")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != listed {
		t.Fatalf("preflight from a listed origin: %d %v", resp.StatusCode, corsHeaders(resp.Header))
	}
	for header, want := range map[string][]string{
		"Access-Control-Allow-Methods": {"GET", "POST"},
		"Access-Control-Allow-Headers": {"Content-Type", "Idempotency-Key", "Authorization", "X-API-Key", "X-Request-ID", "Ticketd-Min-Position"},
	} {
		got := strings.Split(resp.Header.Get(header), ", ")
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("preflight %s = %q lacks %s", header, resp.Header.Get(header), w)
			}
		}
	}
	r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Origin", listed)
	if r.Status != http.StatusCreated || r.Header.Get("Access-Control-Allow-Origin") != listed {
		t.Fatalf("POST from a listed origin: %d %v", r.Status, corsHeaders(r.Header))
	}
	exposed := strings.Split(r.Header.Get("Access-Control-Expose-Headers"), ", ")
	for _, w := range []string{"X-Request-ID", "Idempotent-Replayed", "Location", "Ticketd-Position"} {
		if !slices.Contains(exposed, w) {
			t.Errorf("Access-Control-Expose-Headers = %v lacks %s", exposed, w)
		}
	}

	for name, client := range map[string]*servicetest.Client{"unlisted origin": c, "CORS unset": off} {
		origin := other
		if client == off {
			origin = listed
		}
		resp := preflight(t, client, "/tickets/issue", origin, "content-type")
		if h := corsHeaders(resp.Header); len(h) > 0 || resp.StatusCode == http.StatusNoContent {
			t.Errorf("%s: preflight %d with CORS headers %v", name, resp.StatusCode, h)
		}
		r := client.Do("GET", "/tickets", nil, "Origin", origin)
		if h := corsHeaders(r.Header); len(h) > 0 {
			t.Errorf("%s: GET has CORS headers %v", name, h)
		}
	}
}

func TestCORSStarAllowsEveryOrigin(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.CORSOrigins = "*"
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	resp := preflight(t, c, "/tickets/refund", "https://anyone.example", "content-type")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight with --cors-origins '*': %d %v", resp.StatusCode, corsHeaders(resp.Header))
	}
	if r := c.Do("GET", "/tickets", nil, "Origin", "null"); r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET with --cors-origins '*': %v", corsHeaders(r.Header))
	}
}

// Browsers send preflights without credentials, so access control must not
// refuse them; the request that follows still needs its key.
func TestCORSPreflightNeedsNoAPIKeyButTheRequestDoes(t *testing.T) {
	t.Parallel()
	const origin = "https://box-office.example"
	cfg := servicetest.Config(t.TempDir())
	cfg.CORSOrigins = origin
	cfg.Access = servicetest.AccessConfig()
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	if resp := preflight(t, c, "/tickets/issue", origin, "authorization, content-type"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight with access control on: %d", resp.StatusCode)
	}
	r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Origin", origin)
	if r.Status != http.StatusUnauthorized || r.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("POST without a key from a listed origin: %d %v, want 401 the page can read", r.Status, corsHeaders(r.Header))
	}
	if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Origin", origin, "Authorization", "Bearer "+servicetest.ClerkKey); r.Status != http.StatusCreated {
		t.Fatalf("POST with a clerk key from a listed origin: %d", r.Status)
	}
}
