package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
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

// chromiumServiceHosts are the hosts headless Chromium contacts on its own
// (updates, sign-in, autofill, network time) whatever page it loads, even
// with the flags below that turn such traffic off.
var chromiumServiceHosts = map[string]bool{
	"update.googleapis.com": true, "accounts.google.com": true, "clients2.google.com": true,
	"content-autofill.googleapis.com": true,
}

// TestReDocInChromiumRequestsNothingOutside loads /redoc in headless
// Chromium with every request that leaves the machine sent to a proxy that
// records it, and checks ReDoc rendered (its footer is there) while the
// proxy saw nothing. It skips without Chromium.
func TestReDocInChromiumRequestsNothingOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	t.Parallel()
	svc := mustStart(t, testConfig(t.TempDir()))
	var mu sync.Mutex
	var outside []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, _ := strings.Cut(r.Host, ":"); !chromiumServiceHosts[host] {
			mu.Lock()
			outside = append(outside, r.Method+" "+r.Host+r.URL.Path)
			mu.Unlock()
		}
		http.Error(w, "no requests outside the service", http.StatusBadGateway)
	}))
	defer proxy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dom, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		// Chromium's own traffic (updates, sign-in, autofill, time) is off.
		"--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
		"--disable-features=AutofillServerCommunication,OptimizationHints,NetworkTimeServiceQuerying,SignInProfileCreation,MediaRouter",
		"--disable-client-side-phishing-detection", "--disable-domain-reliability", "--no-pings", "--disable-breakpad",
		"--no-service-autorun", "--password-store=basic", "--use-mock-keychain", "--disable-extensions", "--disable-default-apps",
		"--user-data-dir="+t.TempDir(), "--proxy-server="+proxy.URL, "--virtual-time-budget=20000",
		"--dump-dom", "http://"+svc.Addr()+"/redoc").Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outside) > 0 {
		t.Errorf("the ReDoc page requested from outside the service: %q", outside)
	}
	if !strings.Contains(string(dom), "API docs by Redocly") || !strings.Contains(string(dom), `src="/favicon.ico"`) {
		t.Errorf("ReDoc did not render its footer with the service's logo:\n%.2000s", dom)
	}
}
