package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestDebugAddrServesPprofAndExpvarThatThePublicListenerDoesNot(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.DebugAddr = "127.0.0.1:0"
	svc := mustStart(t, cfg)
	debug := "http://" + svc.DebugAddr()
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
		"/debug/vars":                    `"memstats"`,
	} {
		if status, body := get(t, debug+path); status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("debug listener GET %s: %d, body without %q", path, status, want)
		}
		if status, _ := get(t, "http://"+svc.Addr()+path); status != http.StatusNotFound {
			t.Errorf("public listener GET %s: %d, want 404", path, status)
		}
	}
}

func TestNoDebugListenerByDefault(t *testing.T) {
	t.Parallel()
	svc := mustStart(t, testConfig(t.TempDir()))
	if svc.DebugAddr() != "" {
		t.Fatal("a debug listener runs without --debug-addr")
	}
	if status, _ := get(t, "http://"+svc.Addr()+"/debug/pprof/"); status != http.StatusNotFound {
		t.Fatalf("public listener GET /debug/pprof/: %d, want 404", status)
	}
}
