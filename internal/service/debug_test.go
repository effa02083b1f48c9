package service_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestDebugAddrServesPprofAndExpvarThatThePublicListenerDoesNot(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.DebugAddr = "127.0.0.1:0"
	svc := servicetest.Start(t, cfg)
	debug := "http://" + svc.DebugAddr()
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
		"/debug/vars":                    `"memstats"`,
	} {
		if status, body := servicetest.Get(t, debug+path); status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("debug listener GET %s: %d, body without %q", path, status, want)
		}
		if status, _ := servicetest.Get(t, "http://"+svc.Addr()+path); status != http.StatusNotFound {
			t.Errorf("public listener GET %s: %d, want 404", path, status)
		}
	}
}

func TestNoDebugListenerByDefault(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	if svc.DebugAddr() != "" {
		t.Fatal("a debug listener runs without --debug-addr")
	}
	if status, _ := servicetest.Get(t, "http://"+svc.Addr()+"/debug/pprof/"); status != http.StatusNotFound {
		t.Fatalf("public listener GET /debug/pprof/: %d, want 404", status)
	}
}
