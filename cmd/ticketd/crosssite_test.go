package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPostsThatAreNotPlainJSONAre415NamingTheHeaderAndAppendNothing(t *testing.T) {
	t.Parallel()
	c := startClient(t)
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
		for path, body := range map[string]any{"/tickets/issue": seedIssue, "/tickets/refund": refund} {
			r := c.do("POST", path, body, tt.headers...)
			if r.status != http.StatusUnsupportedMediaType {
				t.Errorf("%s to %s: %d, want 415", tt.name, path, r.status)
				continue
			}
			if fields := problemFields(t, r); len(fields) != 1 || fields[0] != tt.field {
				t.Errorf("%s to %s: problem names %v, want [%s]", tt.name, path, fields, tt.field)
			}
		}
	}
	if n := c.logHead(); n != 0 {
		t.Fatalf("415 requests appended %d events", n)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		if r := c.do("POST", "/tickets/issue", seedIssue, "Content-Type", ct); r.status != http.StatusCreated {
			t.Errorf("Content-Type %q: %d, want 201", ct, r.status)
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
func preflight(t *testing.T, c *apiClient, path, origin, headers string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", headers)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c.checkAgainstSpec(req, nil, resp, body)
	return resp
}

func TestCORSAnswersOnlyListedOriginsAndIsOffByDefault(t *testing.T) {
	t.Parallel()
	const listed, other = "https://box-office.example", "https://evil.example"
	cfg := testConfig(t.TempDir())
	cfg.CORSOrigins = listed + ", http://localhost:3000"
	c := newClient(t, mustStart(t, cfg))
	off := startClient(t)

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
	r := c.do("POST", "/tickets/issue", seedIssue, "Origin", listed)
	if r.status != http.StatusCreated || r.header.Get("Access-Control-Allow-Origin") != listed {
		t.Fatalf("POST from a listed origin: %d %v", r.status, corsHeaders(r.header))
	}
	exposed := strings.Split(r.header.Get("Access-Control-Expose-Headers"), ", ")
	for _, w := range []string{"X-Request-ID", "Idempotent-Replayed", "Location", "Ticketd-Position"} {
		if !slices.Contains(exposed, w) {
			t.Errorf("Access-Control-Expose-Headers = %v lacks %s", exposed, w)
		}
	}

	for name, client := range map[string]*apiClient{"unlisted origin": c, "CORS unset": off} {
		origin := other
		if client == off {
			origin = listed
		}
		resp := preflight(t, client, "/tickets/issue", origin, "content-type")
		if h := corsHeaders(resp.Header); len(h) > 0 || resp.StatusCode == http.StatusNoContent {
			t.Errorf("%s: preflight %d with CORS headers %v", name, resp.StatusCode, h)
		}
		r := client.do("GET", "/tickets", nil, "Origin", origin)
		if h := corsHeaders(r.header); len(h) > 0 {
			t.Errorf("%s: GET has CORS headers %v", name, h)
		}
	}
}

func TestCORSStarAllowsEveryOrigin(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.CORSOrigins = "*"
	c := newClient(t, mustStart(t, cfg))
	resp := preflight(t, c, "/tickets/refund", "https://anyone.example", "content-type")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight with --cors-origins '*': %d %v", resp.StatusCode, corsHeaders(resp.Header))
	}
	if r := c.do("GET", "/tickets", nil, "Origin", "null"); r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET with --cors-origins '*': %v", corsHeaders(r.header))
	}
}

func TestBadCORSOriginsExit2NamingTheFlag(t *testing.T) {
	t.Parallel()
	for _, origins := range []string{"shop.example", "https://shop.example/path", "https://a.example,,https://b.example", "*,https://a.example", "ftp://a.example"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "app.db"), "--cors-origins", origins}, nil, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "--cors-origins") {
			t.Errorf("--cors-origins %q: exit %d, stderr %q", origins, code, stderr.String())
		}
	}
}

// Browsers send preflights without credentials, so access control must not
// refuse them; the request that follows still needs its key.
func TestCORSPreflightNeedsNoAPIKeyButTheRequestDoes(t *testing.T) {
	t.Parallel()
	const origin = "https://box-office.example"
	cfg := testConfig(t.TempDir())
	cfg.CORSOrigins = origin
	cfg.Access = accessConfigForTest()
	c := newClient(t, mustStart(t, cfg))
	if resp := preflight(t, c, "/tickets/issue", origin, "authorization, content-type"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight with access control on: %d", resp.StatusCode)
	}
	r := c.do("POST", "/tickets/issue", seedIssue, "Origin", origin)
	if r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("POST without a key from a listed origin: %d %v, want 401 the page can read", r.status, corsHeaders(r.header))
	}
	if r := c.do("POST", "/tickets/issue", seedIssue, "Origin", origin, "Authorization", "Bearer "+clerkKey); r.status != http.StatusCreated {
		t.Fatalf("POST with a clerk key from a listed origin: %d", r.status)
	}
}
