package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

// docsEngine returns a bare engine with only the documentation routes.
func docsEngine(t *testing.T) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := gin.New()
	registerDocs(e)
	return e
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func loadOpenAPIDocument(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValidatesAndDeclaresEveryEndpoint(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "ticketd" {
		t.Errorf("info.title = %q, want ticketd", doc.Info.Title)
	}
	want := map[string][]string{
		"/":                           {http.MethodGet},
		"/tickets/issue":              {http.MethodPost},
		"/tickets/refund":             {http.MethodPost},
		"/tickets":                    {http.MethodGet},
		"/tickets/{ticket_id}":        {http.MethodGet},
		"/tickets/{ticket_id}/events": {http.MethodGet},
		"/events":                     {http.MethodGet},
		"/events/stream":              {http.MethodGet},
		"/openapi.json":               {http.MethodGet},
		"/docs":                       {http.MethodGet},
		"/redoc":                      {http.MethodGet},
	}
	for path, methods := range want {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("path %s is not declared", path)
			continue
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Errorf("%s %s is not declared", m, path)
			}
		}
	}
}

func TestOpenAPIDocumentResponsesFollowConventions(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Value("500") == nil {
				t.Errorf("%s %s: no 500 response", method, path)
			}
			for status, ref := range op.Responses.Map() {
				resp := ref.Value
				h := resp.Headers["X-Request-ID"]
				if h == nil || !h.Value.Required {
					t.Errorf("%s %s %s: X-Request-ID is not a required header", method, path, status)
				}
				if status[0] != '4' && status[0] != '5' {
					continue
				}
				if len(resp.Content) != 1 || resp.Content.Get("application/problem+json") == nil {
					t.Errorf("%s %s %s: content is not only application/problem+json", method, path, status)
				}
			}
		}
	}
}

func TestOpenAPIDocumentCommandsHonourIdempotencyKey(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for _, path := range []string{"/tickets/issue", "/tickets/refund"} {
		op := doc.Paths.Value(path).Post
		if op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "Idempotency-Key") == nil {
			t.Errorf("POST %s: no Idempotency-Key header parameter", path)
		}
		for _, status := range []string{"400", "409", "413", "503"} {
			if op.Responses.Value(status) == nil {
				t.Errorf("POST %s: no %s response", path, status)
			}
		}
	}
	replay := doc.Paths.Value("/tickets/issue").Post.Responses.Value("200").Value.Headers["Idempotent-Replayed"]
	if replay == nil || !replay.Value.Required {
		t.Error("POST /tickets/issue 200 does not require Idempotent-Replayed")
	}
}

// Swagger UI's "Try it out" fills a parameter with its example: a fixed
// Idempotency-Key would make every try after the first a replay.
func TestSwaggerUITryItOutDoesNotPrefillAnIdempotencyKey(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for _, path := range []string{"/tickets/issue", "/tickets/refund"} {
		p := doc.Paths.Value(path).Post.Parameters.GetByInAndName(openapi3.ParameterInHeader, "Idempotency-Key")
		if p == nil {
			t.Fatalf("POST %s: no Idempotency-Key header parameter", path)
		}
		if p.Example != nil || len(p.Examples) > 0 || p.Schema.Value.Example != nil || p.Schema.Value.Default != nil {
			t.Errorf("POST %s: Idempotency-Key has a value Swagger UI pre-fills (example %v, examples %v, schema example %v, default %v)",
				path, p.Example, p.Examples, p.Schema.Value.Example, p.Schema.Value.Default)
		}
	}
	if page := string(swaggerUIPage.body); strings.Contains(page, "Idempotency-Key") || strings.Contains(page, "requestInterceptor") {
		t.Error("the Swagger UI page sets request headers itself")
	}
}

func TestOpenAPIDocumentIsServedVerbatim(t *testing.T) {
	w := get(t, docsEngine(t), "/openapi.json")
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !bytes.Equal(w.Body.Bytes(), OpenAPIDocument()) {
		t.Error("body differs from OpenAPIDocument()")
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Error("body is not valid JSON")
	}
}

func TestOpenAPIDocumentReturnsACopy(t *testing.T) {
	b := OpenAPIDocument()
	b[0] = 'X'
	if OpenAPIDocument()[0] == 'X' {
		t.Error("OpenAPIDocument exposes its backing array")
	}
}

// assetRef matches the src and href attributes of a page.
var assetRef = regexp.MustCompile(`(?i)\b(?:src|href|spec-url)\s*=\s*"([^"]*)"`)

func TestDocsPagesUseOnlyLocalAssets(t *testing.T) {
	e := docsEngine(t)
	pages := map[string][]string{
		"/docs":  {"/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js", "/openapi.json"},
		"/redoc": {"/redoc/redoc.standalone.js", "/openapi.json"},
	}
	for page, wantRefs := range pages {
		w := get(t, e, page)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: status = %d", page, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type = %q", page, ct)
		}
		html := w.Body.String()
		var refs []string
		for _, m := range assetRef.FindAllStringSubmatch(html, -1) {
			ref := m[1]
			refs = append(refs, ref)
			if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
				t.Errorf("GET %s references non-local %q", page, ref)
			}
		}
		if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
			t.Errorf("GET %s mentions an absolute URL:\n%s", page, html)
		}
		for _, want := range wantRefs {
			if !slices.Contains(refs, want) && !strings.Contains(html, `"`+want+`"`) {
				t.Errorf("GET %s does not reference %s", page, want)
			}
		}
		for _, ref := range refs {
			if ref == "/openapi.json" {
				continue
			}
			checkAsset(t, e, ref)
		}
	}
	if page := get(t, e, "/docs").Body.String(); !strings.Contains(page, "validatorUrl: null") {
		t.Error("Swagger UI would call the online validator")
	}
}

func checkAsset(t *testing.T, h http.Handler, path string) {
	t.Helper()
	w := get(t, h, path)
	if w.Code != http.StatusOK {
		t.Errorf("GET %s: status = %d", path, w.Code)
		return
	}
	wantType, minSize := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png"}, 10_000
	ct := w.Header().Get("Content-Type")
	ext := path[strings.LastIndex(path, "."):]
	if ext == ".png" {
		minSize = 200
	}
	if !strings.HasPrefix(ct, wantType[ext]) || wantType[ext] == "" {
		t.Errorf("GET %s: Content-Type = %q, want %s", path, ct, wantType[ext])
	}
	if w.Body.Len() < minSize {
		t.Errorf("GET %s: %d bytes, want at least %d", path, w.Body.Len(), minSize)
	}
	if w.Header().Get("Cache-Control") == "" || w.Header().Get("ETag") == "" {
		t.Errorf("GET %s: Cache-Control %q, ETag %q", path, w.Header().Get("Cache-Control"), w.Header().Get("ETag"))
	}
}

func TestDocsAssetsAreTheBundledLibraries(t *testing.T) {
	e := docsEngine(t)
	for path, marker := range map[string]string{
		"/docs/swagger-ui-bundle.js":            "SwaggerUIBundle",
		"/docs/swagger-ui-standalone-preset.js": "SwaggerUIStandalonePreset",
		"/docs/swagger-ui.css":                  ".swagger-ui",
		"/redoc/redoc.standalone.js":            "Redoc",
	} {
		if body := get(t, e, path).Body.String(); !strings.Contains(body, marker) {
			t.Errorf("GET %s does not contain %q", path, marker)
		}
	}
}

func TestDocsRoutesCoexist(t *testing.T) {
	e := docsEngine(t)
	if w := get(t, e, "/docs"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "swagger-ui") {
		t.Errorf("GET /docs: status %d", w.Code)
	}
	if w := get(t, e, "/docs/swagger-ui.css"); w.Code != http.StatusOK {
		t.Errorf("GET /docs/swagger-ui.css: status %d", w.Code)
	}
	if w := get(t, e, "/docs/"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/docs" {
		t.Errorf("GET /docs/: status %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	for _, path := range []string{"/docs/index.html", "/docs/swagger-initializer.js", "/docs/nope.js", "/docs/a/b.js"} {
		w := get(t, e, path)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("GET %s: Content-Type %q, want application/problem+json", path, ct)
		}
	}
}

func TestDocsAssetsHonourConditionalRequests(t *testing.T) {
	e := docsEngine(t)
	first := get(t, e, "/redoc/redoc.standalone.js")
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if w := get(t, e, "/redoc/redoc.standalone.js", "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: status %d, %d bytes", w.Code, w.Body.Len())
	}
	if cc := get(t, e, "/docs").Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /docs: Cache-Control %q, want no-cache", cc)
	}
}
