package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// chromiumServiceHosts are the hosts headless Chromium contacts on its own
// (updates, sign-in, autofill, network time) whatever page it loads, even
// with the flags below that turn such traffic off.
var chromiumServiceHosts = map[string]bool{
	"update.googleapis.com": true, "accounts.google.com": true, "clients2.google.com": true,
	"content-autofill.googleapis.com": true,
}

// chromiumDOM loads url in headless Chromium, with every request that
// leaves the machine sent to a proxy that records it, and returns the page's
// DOM once its scripts ran and the requests that went outside. It skips t
// with -short or without Chromium.
func chromiumDOM(t *testing.T, url string) (string, []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
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
		"--dump-dom", url).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return string(dom), outside
}

// TestReDocInChromiumRequestsNothingOutside loads /redoc in headless
// Chromium and checks ReDoc rendered (its footer is there) while nothing
// was requested from outside the service, with the document's GET, POST
// and DELETE operations and no HEAD or OPTIONS, and, access control being off, no
// Authorizations section and a note that no key is needed (with keys,
// tests/browser/docs.test.mjs). It skips without Chromium.
func TestReDocInChromiumRequestsNothingOutside(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	dom, outside := chromiumDOM(t, "http://"+svc.Addr()+"/redoc")
	if len(outside) > 0 {
		t.Errorf("the ReDoc page requested from outside the service: %q", outside)
	}
	if !strings.Contains(dom, "API docs by Redocly") || !strings.Contains(dom, `src="/favicon.ico"`) {
		t.Errorf("ReDoc did not render its footer with the service's logo:\n%.2000s", dom)
	}
	verbs := regexp.MustCompile(`operation-type (\w+)"`).FindAllStringSubmatch(dom, -1)
	if ops := documentedOperations(t); len(verbs) != ops.shown() || strings.Contains(dom, `operation-type head"`) || strings.Contains(dom, `operation-type options"`) {
		t.Errorf("ReDoc lists %d operations: %v", len(verbs), verbs)
	}
	if strings.Contains(dom, ">Authorizations:<") || !strings.Contains(dom, "This server has access control off") {
		t.Error("ReDoc shows Authorizations, or no note that access control is off")
	}
}

// TestSwaggerUIInChromiumShowsNoHEADOrOPTIONSAndLocksOnlyWhereKeysAreNeeded
// renders /docs (Swagger UI) in headless Chromium on a service without and
// with API keys: it lists the document's GET, POST and DELETE operations and no
// HEAD or OPTIONS, shows a lock on the operations that need a role when
// keys are configured and on none without, and says which.
func TestSwaggerUIInChromiumShowsNoHEADOrOPTIONSAndLocksOnlyWhereKeysAreNeeded(t *testing.T) {
	t.Parallel()
	ops := documentedOperations(t)
	for _, keys := range []bool{false, true} {
		cfg := servicetest.Config(t.TempDir())
		locks, state := 0, "This server has access control off"
		if keys {
			cfg.Access = servicetest.AccessConfig()
			locks, state = ops.roled, "This server has access control on"
		}
		svc := servicetest.Start(t, cfg)
		dom, _ := chromiumDOM(t, "http://"+svc.Addr()+"/docs")
		methods := map[string]int{}
		for _, m := range regexp.MustCompile(`class="opblock opblock-(\w+)`).FindAllStringSubmatch(dom, -1) {
			methods[m[1]]++
		}
		if len(methods) != 3 || methods["get"] != ops.get || methods["post"] != ops.post || methods["delete"] != ops.delete {
			t.Errorf("keys %v: Swagger UI shows operations %v, want %d get, %d post and %d delete", keys, methods, ops.get, ops.post, ops.delete)
		}
		if n := strings.Count(dom, "authorization__btn"); n != locks {
			t.Errorf("keys %v: Swagger UI shows %d locks, want %d", keys, n, locks)
		}
		if !strings.Contains(dom, state) {
			t.Errorf("keys %v: /docs does not say %q", keys, state)
		}
	}
}

// operationCounts counts operations of the OpenAPI document: its GET, POST
// and DELETE operations, and those of them that need a role.
type operationCounts struct{ get, post, delete, roled int }

// shown is how many operations the docs pages show: all but HEAD and OPTIONS.
func (n operationCounts) shown() int { return n.get + n.post + n.delete }

// documentedOperations counts the operations of httpapi/openapi.json.
func documentedOperations(t *testing.T) operationCounts {
	t.Helper()
	raw, err := os.ReadFile("../../httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var n operationCounts
	for _, ops := range doc.Paths {
		for method, op := range ops {
			switch method {
			case "get":
				n.get++
			case "post":
				n.post++
			case "delete":
				n.delete++
			default:
				continue
			}
			if len(op.Security) > 0 {
				n.roled++
			}
		}
	}
	return n
}
