package service_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestAccessControlEveryEndpointTimesEveryRole(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Access = servicetest.AccessConfig()
	var logs servicetest.SyncBuffer
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown()
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.SeedIssue, "Authorization", "Bearer "+servicetest.ClerkKey)
	schedule := map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘", "starts_at": "2030-12-24T19:30:00+09:00", "capacity": 100, "price_krw": 15000}
	showing := c.Do("POST", "/showings", schedule, "Authorization", "Bearer "+servicetest.ManagerKey)
	showingID, _ := showing.JSON(t)["id"].(string)
	hold := c.Do("POST", "/showings/"+showingID+"/holds", map[string]any{"user_id": "u"}, "Authorization", "Bearer "+servicetest.ClerkKey)
	holdID, _ := hold.JSON(t)["hold_id"].(string)
	if showing.Status != 201 || hold.Status != 201 {
		t.Fatalf("schedule %d, hold %d", showing.Status, hold.Status)
	}

	type endpoint struct {
		method, path string
		body         any
		allowed      []string // roles; nil means open to everyone, key or not
	}
	endpoints := []endpoint{
		{"POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "quantity", 1), []string{"clerk"}},
		{"POST", "/tickets/refund", map[string]any{"ticket_ids": []string{"nope"}}, []string{"clerk"}},
		{"GET", "/tickets", nil, []string{"clerk", "auditor", "analyst"}},
		{"GET", "/tickets/" + ids[0], nil, []string{"clerk", "auditor", "analyst"}},
		{"GET", "/tickets/" + ids[0] + "?as_of=1", nil, []string{"clerk", "auditor", "analyst"}},
		{"GET", "/tickets/" + ids[0] + "/events", nil, []string{"auditor", "analyst"}},
		{"POST", "/showings", schedule, []string{"manager"}},
		{"GET", "/showings", nil, []string{"clerk", "auditor", "analyst"}},
		{"GET", "/showings/" + showingID, nil, []string{"clerk", "auditor", "analyst"}},
		{"POST", "/showings/" + showingID + "/holds", map[string]any{"user_id": "u"}, []string{"clerk"}},
		{"GET", "/holds/" + holdID, nil, []string{"clerk", "auditor", "analyst"}},
		{"DELETE", "/holds/" + holdID, nil, []string{"clerk"}},
		{"GET", "/events", nil, []string{"auditor", "analyst"}},
		{"GET", "/events/stream", nil, []string{"analyst"}},
		{"GET", "/events/export.parquet", nil, []string{"analyst"}},
		{"GET", "/audit/verify", nil, []string{"auditor"}},
		{"GET", "/audit/head", nil, []string{"auditor"}},
		{"GET", "/stats/sales?by=movie", nil, []string{"analyst"}},
		{"GET", "/stats/timeline?minutes=5", nil, []string{"analyst"}},
		{"GET", "/dashboard", nil, nil},
		{"GET", "/dashboard/app.js", nil, nil},
		{"GET", "/dashboard/app.css", nil, nil},
		{"GET", "/", nil, nil},
		{"GET", "/healthz", nil, nil},
		{"GET", "/readyz", nil, nil},
		{"GET", "/metrics", nil, nil},
		{"GET", "/openapi.json", nil, nil},
		{"GET", "/docs", nil, nil},
		{"GET", "/redoc", nil, nil},
	}
	callers := []struct {
		role    string
		headers []string
	}{
		{"none", nil},
		{"unknown", []string{"Authorization", "Bearer not-a-key-0123456789"}},
		{"clerk", []string{"Authorization", "Bearer " + servicetest.ClerkKey}},
		{"auditor", []string{"X-API-Key", servicetest.AuditorKey}},
		{"analyst", []string{"Authorization", "Bearer " + servicetest.AnalystKey}},
		{"manager", []string{"Authorization", "Bearer " + servicetest.ManagerKey}},
		{"clerk via X-API-Key", []string{"X-API-Key", servicetest.ClerkKey}},
	}
	router, err := servicetest.SpecRouter()
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range endpoints {
		// The document says who may call it, and /docs shows a lock on it
		// with access control on, exactly when the server asks for a role.
		req, _ := http.NewRequest(ep.method, c.Base+ep.path, nil)
		route, _, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in the OpenAPI document: %v", ep.method, ep.path, err)
		}
		_, documented, named := strings.Cut(route.Operation.Description, "allowed roles: ")
		documented, _, _ = strings.Cut(documented, ".")
		secured := route.Operation.Security != nil && len(*route.Operation.Security) > 0
		switch {
		case ep.allowed == nil && (named || secured):
			t.Errorf("%s %s is open, but the OpenAPI document gives it roles or security", ep.method, ep.path)
		case ep.allowed != nil && (documented != strings.Join(ep.allowed, ", ") || !secured):
			t.Errorf("%s %s is for %v, but the OpenAPI document says %q (security %v)", ep.method, ep.path, ep.allowed, documented, secured)
		}
		for _, caller := range callers {
			role := strings.TrimSuffix(caller.role, " via X-API-Key")
			var want int
			switch {
			case ep.allowed == nil:
				want = 0 // any success
			case role == "none" || role == "unknown":
				want = http.StatusUnauthorized
			case !slices.Contains(ep.allowed, role):
				want = http.StatusForbidden
			}
			status, header := callEndpoint(t, c, ep.method, ep.path, ep.body, caller.headers)
			switch {
			case want == 0 && (status < 200 || status > 299):
				t.Errorf("%s %s as %s: %d, want 2xx", ep.method, ep.path, caller.role, status)
			case want != 0 && status != want:
				t.Errorf("%s %s as %s: %d, want %d", ep.method, ep.path, caller.role, status, want)
			case want == http.StatusUnauthorized && header.Get("WWW-Authenticate") == "":
				t.Errorf("%s %s as %s: 401 without WWW-Authenticate", ep.method, ep.path, caller.role)
			}
		}
	}
	for _, key := range []string{servicetest.ClerkKey, servicetest.AuditorKey, servicetest.AnalystKey, servicetest.ManagerKey, "not-a-key-0123456789"} {
		if strings.Contains(logs.String(), key) {
			t.Fatalf("the log contains an API key")
		}
	}
}

// callEndpoint sends one request and returns its status and headers. The
// event stream never ends, so its answer is judged by its headers alone.
func callEndpoint(t *testing.T, c *servicetest.Client, method, path string, body any, headers []string) (int, http.Header) {
	t.Helper()
	if path != "/events/stream" {
		r := c.Do(method, path, body, headers...)
		return r.Status, r.Header
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := servicetest.GetStream(ctx, c.Base+path, headers)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestAccessControlIsOffByDefault(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	if r := c.Do("GET", "/audit/verify", nil); r.Status != 200 {
		t.Fatalf("audit without keys configured: %d", r.Status)
	}
}

func TestBadAPIKeyConfigurationFailsAtStart(t *testing.T) {
	t.Parallel()
	for name, keys := range map[string]string{
		"unknown role": "admin some-long-key-0123456789",
		"short key":    "clerk short",
		"bad digest":   "auditor sha256:abc",
		"no key":       "clerk",
	} {
		cfg := servicetest.Config(t.TempDir())
		cfg.Access = service.AccessConfig{Keys: keys}
		_, err := service.Start(context.Background(), cfg, servicetest.Logger(t))
		if err == nil || strings.Contains(err.Error(), "0123456789") {
			t.Errorf("%s: err = %v (want an error that does not echo the key)", name, err)
		}
	}
	cfg := servicetest.Config(t.TempDir())
	cfg.Access = service.AccessConfig{KeysFile: "/nonexistent/keys"}
	if _, err := service.Start(context.Background(), cfg, servicetest.Logger(t)); err == nil {
		t.Error("a missing keys file started the service")
	}
}

func TestStartLogsOneLineWithAccessControlStateAndKeysPerRole(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		access service.AccessConfig
		want   map[string]any
	}{
		"on": {service.AccessConfig{Keys: "clerk " + servicetest.ClerkKey + ";clerk " + servicetest.ClerkKey + "-2;analyst " + servicetest.AnalystKey},
			map[string]any{"enabled": true, "clerk_keys": 2.0, "auditor_keys": 0.0, "analyst_keys": 1.0}},
		"off": {service.AccessConfig{}, map[string]any{"enabled": false, "clerk_keys": 0.0, "auditor_keys": 0.0, "analyst_keys": 0.0}},
	} {
		cfg := servicetest.Config(t.TempDir())
		cfg.Access = tt.access
		var logs servicetest.SyncBuffer
		svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		svc.Shutdown()
		var found []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("%s: log line is not JSON: %q", name, line)
			}
			if strings.HasPrefix(entry["msg"].(string), "access control") {
				found = append(found, entry)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%s: %d access control lines, want 1:\n%s", name, len(found), logs.String())
		}
		for k, v := range tt.want {
			if found[0][k] != v {
				t.Errorf("%s: access control line has %s=%v, want %v: %v", name, k, found[0][k], v, found[0])
			}
		}
	}
}

func TestAuthorizationSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Access = servicetest.AccessConfig()
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if r := c.Do("GET", "/tickets", nil, "Authorization", scheme+" "+servicetest.ClerkKey); r.Status != http.StatusOK {
			t.Errorf("Authorization: %s KEY: %d, want 200", scheme, r.Status)
		}
	}
	if r := c.Do("GET", "/tickets", nil, "Authorization", "Basic "+servicetest.ClerkKey); r.Status != http.StatusUnauthorized {
		t.Errorf("Authorization: Basic KEY: %d, want 401", r.Status)
	}
}
