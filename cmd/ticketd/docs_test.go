package main

import (
	"net/http"
	"testing"
)

// TestFaviconIsServedAsDocumented fetches /favicon.ico and the ReDoc page
// through the client that checks every response against openapi.json.
func TestFaviconIsServedAsDocumented(t *testing.T) {
	t.Parallel()
	c := newClient(t, mustStart(t, testConfig(t.TempDir())))
	for _, path := range []string{"/favicon.ico", "/redoc"} {
		if r := c.do("GET", path, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	if r := c.do("GET", "/favicon.ico", nil); r.header.Get("Content-Type") != "image/x-icon" {
		t.Errorf("GET /favicon.ico: Content-Type %q", r.header.Get("Content-Type"))
	}
}
