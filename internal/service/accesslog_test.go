package service_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestAccessLogNamesClientAndRoleAndProbesLogAtDebug(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Access.Keys = "clerk clerk-key-0123456789abcdef"
	logs := &servicetest.SyncBuffer{}
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	c := servicetest.NewClient(t, svc)
	c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Authorization", "Bearer clerk-key-0123456789abcdef", "X-Request-ID", "as-clerk")
	c.Do("GET", "/tickets", nil, "X-Request-ID", "no-key")
	for _, probe := range []string{"GET /healthz", "HEAD /healthz", "GET /readyz", "HEAD /readyz"} {
		method, path, _ := strings.Cut(probe, " ")
		c.Do(method, path, nil, "X-Request-ID", method+path)
	}
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	lines := map[string]servicetest.LogLine{}
	for _, l := range servicetest.DecodeLogLines(t, logs.String()) {
		if l.Str("msg") == "request" {
			lines[l.Str("request_id")] = l
		}
	}
	for id, want := range map[string]struct{ level, role string }{
		"as-clerk": {"INFO", "clerk"}, "no-key": {"INFO", ""},
		"GET/healthz": {"DEBUG", ""}, "HEAD/healthz": {"DEBUG", ""}, "GET/readyz": {"DEBUG", ""}, "HEAD/readyz": {"DEBUG", ""},
	} {
		l, ok := lines[id]
		if !ok {
			t.Errorf("request %s not logged", id)
			continue
		}
		host, _, err := net.SplitHostPort(l.Str("client_addr"))
		if l.Str("level") != want.level || l.Str("role") != want.role || err != nil || host != "127.0.0.1" {
			t.Errorf("request %s logged as %v; want level %s, role %q and the client's address", id, l, want.level, want.role)
		}
	}
}
