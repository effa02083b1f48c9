package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// Keys of the access-control tests; the auditor's is configured by digest.
const (
	clerkKey   = "clerk-key-0123456789abcdef"
	auditorKey = "auditor-key-0123456789abcdef"
	analystKey = "analyst-key-0123456789abcdef"
	managerKey = "manager-key-0123456789abcdef"
)

func accessConfigForTest() service.AccessConfig {
	digest := sha256.Sum256([]byte(auditorKey))
	return service.AccessConfig{Keys: fmt.Sprintf("clerk %s; auditor sha256:%s ;analyst %s; manager %s", clerkKey, hex.EncodeToString(digest[:]), analystKey, managerKey)}
}

func TestAccessControlEveryEndpointTimesEveryRole(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Access = accessConfigForTest()
	var logs servicetest.SyncBuffer
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown()
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.SeedIssue, "Authorization", "Bearer "+clerkKey)
	schedule := map[string]any{"theater_name": "CGV 강남", "movie_title": "파묘", "starts_at": "2030-12-24T19:30:00+09:00", "capacity": 100, "price_krw": 15000}
	showing := c.Do("POST", "/showings", schedule, "Authorization", "Bearer "+managerKey)
	showingID, _ := showing.JSON(t)["id"].(string)
	hold := c.Do("POST", "/showings/"+showingID+"/holds", map[string]any{"user_id": "u"}, "Authorization", "Bearer "+clerkKey)
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
		{"clerk", []string{"Authorization", "Bearer " + clerkKey}},
		{"auditor", []string{"X-API-Key", auditorKey}},
		{"analyst", []string{"Authorization", "Bearer " + analystKey}},
		{"manager", []string{"Authorization", "Bearer " + managerKey}},
		{"clerk via X-API-Key", []string{"X-API-Key", clerkKey}},
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
	for _, key := range []string{clerkKey, auditorKey, analystKey, managerKey, "not-a-key-0123456789"} {
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

func TestAPIKeyConfigurationWithoutKeysOrWithAKeyUnderTwoRolesExits2BeforeListening(t *testing.T) {
	bin := parallelBinaryTest(t)
	digest := sha256.Sum256([]byte(clerkKey))
	tests := []struct {
		name     string
		file     string   // contents of the keys file, when given
		args     []string // besides --addr and --db
		env      []string
		mentions string
	}{
		{name: "empty file", file: "", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "whitespace-only file", file: " \n\t\n", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "file of comments only", file: "# clerk " + clerkKey + "\n", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "file from the environment", file: "\n", env: []string{"TICKETD_API_KEYS_FILE=@KEYS@"}, mentions: "TICKETD_API_KEYS_FILE"},
		{name: "variable of separators only", env: []string{"TICKETD_API_KEYS=;"}, mentions: "TICKETD_API_KEYS"},
		{name: "flag of separators only", args: []string{"--api-keys", " ; ;"}, mentions: "--api-keys"},
		{name: "one key under two roles", env: []string{"TICKETD_API_KEYS=clerk " + clerkKey + ";auditor " + clerkKey}, mentions: "TICKETD_API_KEYS"},
		{name: "a key and its digest under two roles", env: []string{"TICKETD_API_KEYS=clerk " + clerkKey + ";analyst sha256:" + hex.EncodeToString(digest[:])}, mentions: "TICKETD_API_KEYS"},
		{name: "one key in the file and the variable under two roles", file: "clerk " + clerkKey, args: []string{"--api-keys-file", "@KEYS@"}, env: []string{"TICKETD_API_KEYS=auditor " + clerkKey}, mentions: "--api-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keysPath := filepath.Join(dir, "keys.txt")
			if err := os.WriteFile(keysPath, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"serve", "--addr", freeAddr(t), "--db", filepath.Join(dir, "data", "app.db")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "@KEYS@", keysPath))
			}
			// A service that starts instead of refusing is killed after a while.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "TICKETD_LOG_FORMAT=json")
			for _, e := range tt.env {
				cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "@KEYS@", keysPath))
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\nstderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.mentions) {
				t.Fatalf("stderr is not one line naming %s:\n%s", tt.mentions, stderr.String())
			}
			if strings.Contains(stderr.String(), clerkKey) {
				t.Fatalf("stderr echoes the key: %s", stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the service got as far as its database before refusing: %v", err)
			}
		})
	}
}

func TestStartLogsOneLineWithAccessControlStateAndKeysPerRole(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		access service.AccessConfig
		want   map[string]any
	}{
		"on": {service.AccessConfig{Keys: "clerk " + clerkKey + ";clerk " + clerkKey + "-2;analyst " + analystKey},
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
	cfg.Access = accessConfigForTest()
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if r := c.Do("GET", "/tickets", nil, "Authorization", scheme+" "+clerkKey); r.Status != http.StatusOK {
			t.Errorf("Authorization: %s KEY: %d, want 200", scheme, r.Status)
		}
	}
	if r := c.Do("GET", "/tickets", nil, "Authorization", "Basic "+clerkKey); r.Status != http.StatusUnauthorized {
		t.Errorf("Authorization: Basic KEY: %d, want 401", r.Status)
	}
}
