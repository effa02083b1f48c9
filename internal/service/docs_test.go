package service_test

import (
	"net/http"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// TestFaviconIsServedAsDocumented fetches /favicon.ico and the ReDoc page
// through the client that checks every response against openapi.json.
func TestFaviconIsServedAsDocumented(t *testing.T) {
	t.Parallel()
	c := servicetest.NewClient(t, servicetest.Start(t, servicetest.Config(t.TempDir())))
	for _, path := range []string{"/favicon.ico", "/redoc"} {
		if r := c.Do("GET", path, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.Status)
		}
	}
	if r := c.Do("GET", "/favicon.ico", nil); r.Header.Get("Content-Type") != "image/x-icon" {
		t.Errorf("GET /favicon.ico: Content-Type %q", r.Header.Get("Content-Type"))
	}
}
