package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
)

// testConfig is a service configuration for tests: the defaults with a
// database in dir, a free loopback port, timeouts that suit a loaded
// machine, and no free-space floor (tests run on small filesystems).
func testConfig(dir string) service.Config {
	cfg := service.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DB = filepath.Join(dir, "data", "app.db")
	cfg.ConsistencyTimeout = 10 * time.Second
	cfg.IdleTimeout = time.Minute
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.MinFreeBytes = 0
	cfg.Build = currentBuild()
	return cfg
}

// testLogger sends the service's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// mustStart starts a service with cfg and shuts it down at the end of the test.
func mustStart(t testing.TB, cfg service.Config) *service.Service {
	t.Helper()
	svc, err := service.Start(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("start service: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { svc.Shutdown() }) })
	return svc
}

// apiClient talks to a service over real HTTP and checks every exchange
// against the OpenAPI document, so the document and the server cannot drift.
type apiClient struct {
	t      testing.TB
	base   string
	http   *http.Client
	router routers.Router
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpecRouter() (routers.Router, error) {
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = legacy.NewRouter(doc)
	})
	return specRouter, specErr
}

func newClient(t testing.TB, svc *service.Service) *apiClient {
	t.Helper()
	return newClientAt(t, "http://"+svc.Addr())
}

// newClientAt is newClient for the service at base (http://host:port),
// such as a ticketd process.
func newClientAt(t testing.TB, base string) *apiClient {
	t.Helper()
	router, err := loadSpecRouter()
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	return &apiClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}, router: router}
}

// newHandlerClient is newClient for svc's handler called in process, without
// a connection: fuzz targets use it, as it is fast and hands the handler
// header bytes that no HTTP client would put on the wire.
func newHandlerClient(t testing.TB, svc *service.Service) *apiClient {
	t.Helper()
	c := newClient(t, svc)
	c.http = &http.Client{Transport: handlerTransport{svc.Handler()}}
	return c
}

// handlerTransport answers requests by calling a handler, as httptest does.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// response is an HTTP exchange's outcome.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return v
}

// do sends a request; body is sent as is when it is a string or []byte, else
// encoded as JSON, with Content-Type application/json unless headers give
// another ("" for none). headers are name, value pairs.
func (c *apiClient) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Content-Type" {
			req.Header.Del("Content-Type") // the test's own instead; "" for none
			if headers[i+1] == "" {
				continue
			}
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.checkAgainstSpec(req, raw, resp, out)
	if resp.Header.Get("X-Request-ID") == "" {
		c.t.Errorf("%s %s: response has no X-Request-ID", method, path)
	}
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		c.t.Errorf("%s %s: error %d has Content-Type %q, want application/problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return response{status: resp.StatusCode, header: resp.Header, body: out}
}

// checkAgainstSpec validates the response (status, headers, body) against the
// OpenAPI operation the request matches. Requests are not validated: tests
// send invalid requests on purpose.
func (c *apiClient) checkAgainstSpec(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	c.t.Helper()
	specReq := req.Clone(context.Background())
	specReq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(specReq)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return // no operation to check an unknown route against
		}
		c.t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: specReq, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		c.t.Errorf("%s %s -> %d does not conform to the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// engine is a storage engine the end-to-end suites run the service on.
type engine struct {
	name string
	// database returns the --db of a new, empty database for tb: a file in
	// dir, or a database of tb's own on a server, dropped when tb ends.
	database func(tb testing.TB, dir string) string
	// clusterNode, when above 0, makes startClient start a cluster of
	// clusterSize instances on one fresh PostgreSQL database and talk to
	// its clusterNode-th instance.
	clusterNode int
	// omits are the paths of the JSON fields the docs show that this
	// engine leaves out (see matchDocOutput).
	omits []string
}

// clusterSize is how many instances a cluster engine starts.
const clusterSize = 3

// sqliteEngine is the embedded default: a file below dir.
var sqliteEngine = engine{name: "sqlite", database: func(_ testing.TB, dir string) string { return filepath.Join(dir, "data", "app.db") }}

// postgresEngine is a fresh database on the server TICKETD_TEST_POSTGRES_URL
// names; its tests skip without it.
var postgresEngine = engine{name: "postgres", database: func(tb testing.TB, _ string) string { return pgtest.FreshDatabase(tb) },
	omits: []string{"checks.disk"}} // /readyz checks the free space of a SQLite file's filesystem only

// engines are the engines every end-to-end suite runs once against.
var engines = []engine{sqliteEngine, postgresEngine}

// clusterNodes are the PostgreSQL engine seen through each instance of a
// cluster; their tests skip without TICKETD_TEST_POSTGRES_URL.
var clusterNodes = func() []engine {
	nodes := make([]engine, clusterSize)
	for i := range nodes {
		nodes[i] = postgresEngine
		nodes[i].name = fmt.Sprintf("cluster-node%d", i+1)
		nodes[i].clusterNode = i + 1
	}
	return nodes
}()

// forEachEngineAndClusterNode is forEachEngine, then the same test once
// through each instance of a cluster (the HTTP contract holds through any).
func forEachEngineAndClusterNode(t *testing.T, test func(t *testing.T, e engine)) {
	t.Helper()
	forEachEngine(t, test)
	for _, e := range clusterNodes {
		t.Run(e.name, func(t *testing.T) { test(t, e) })
	}
}

// forEachEngine runs test once per engine, in subtests named after the
// engines, one after the other (test decides on its own parallelism).
func forEachEngine(t *testing.T, test func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e) })
	}
}

// config is testConfig on a new database of e (as one instance of a
// cluster for a cluster engine).
func (e engine) config(t testing.TB) service.Config {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.DB = e.database(t, dir)
	cfg.Cluster = e.clusterNode > 0
	return cfg
}

// startClient starts a service on a new database of e and returns a client
// of it; for a cluster engine, a cluster with its leader elected and a
// client of its clusterNode-th instance.
func (e engine) startClient(t *testing.T) *apiClient {
	t.Helper()
	if e.clusterNode == 0 {
		return newClient(t, mustStart(t, e.config(t)))
	}
	_, svcs := startServices(t, clusterSize)
	soleLeader(t, svcs, []int{0, 1, 2}, 10*time.Second)
	return newClient(t, svcs[e.clusterNode-1])
}
