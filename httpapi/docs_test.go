package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
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
	registerDocs(e, false)
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
		"/":                            {http.MethodGet},
		"/tickets/issue":               {http.MethodPost},
		"/tickets/refund":              {http.MethodPost},
		"/tickets":                     {http.MethodGet},
		"/tickets/{ticket_id}":         {http.MethodGet},
		"/tickets/{ticket_id}/events":  {http.MethodGet},
		"/showings":                    {http.MethodPost, http.MethodGet},
		"/showings/{showing_id}":       {http.MethodGet},
		"/showings/{showing_id}/holds": {http.MethodPost},
		"/holds/{hold_id}":             {http.MethodGet, http.MethodDelete},
		"/events":                      {http.MethodGet},
		"/events/stream":               {http.MethodGet},
		"/audit/verify":                {http.MethodGet},
		"/audit/head":                  {http.MethodGet},
		"/openapi.json":                {http.MethodGet},
		"/docs":                        {http.MethodGet},
		"/redoc":                       {http.MethodGet},
		"/healthz":                     {http.MethodGet},
		"/readyz":                      {http.MethodGet},
		"/metrics":                     {http.MethodGet},
		"/favicon.ico":                 {http.MethodGet},
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
			if method == http.MethodHead {
				continue // TestOpenAPIDocumentDeclaresHEADBesideEveryGET
			}
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

// healthTag tags the service's own endpoints, which clients that build tools
// from the document leave out.
const healthTag = "health"

func TestOpenAPIDocumentNamesTheOriginalsOperationsAsFastAPIDoes(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for _, want := range []struct{ method, path, id, tag string }{
		{http.MethodPost, "/tickets/issue", "issue_tickets_tickets_issue_post", "tickets"},
		{http.MethodPost, "/tickets/refund", "refund_tickets_tickets_refund_post", "tickets"},
		{http.MethodGet, "/tickets/{ticket_id}", "get_ticket_tickets__ticket_id__get", "tickets"},
		{http.MethodGet, "/tickets", "get_ticket_list_tickets_get", "tickets"},
		{http.MethodGet, "/", "health_check__get", healthTag},
	} {
		op := doc.Paths.Value(want.path).GetOperation(want.method)
		if op.OperationID != want.id || !slices.Equal(op.Tags, []string{want.tag}) {
			t.Errorf("%s %s: operationId %q, tags %v; want %q, [%s]", want.method, want.path, op.OperationID, op.Tags, want.id, want.tag)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"} {
		if tags := doc.Paths.Value(path).Get.Tags; !slices.Equal(tags, []string{healthTag}) {
			t.Errorf("GET %s: tags %v, want [%s]", path, tags, healthTag)
		}
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if other, taken := ids[op.OperationID]; taken {
				t.Errorf("operationId %q of %s %s is also %s's", op.OperationID, method, path, other)
			}
			ids[op.OperationID] = method + " " + path
			if slices.Contains(op.Tags, healthTag) {
				continue
			}
			// What a client that leaves out the health tag sees.
			if !slices.ContainsFunc([]string{"/tickets", "/showings", "/holds/", "/events", "/audit/", "/stats/"}, func(p string) bool { return strings.HasPrefix(path, p) }) {
				t.Errorf("%s %s is neither a ticket, showing, hold, event-log, audit nor sales operation but is not tagged %s", method, path, healthTag)
			}
			if len(op.Tags) == 0 || doc.Tags.Get(op.Tags[0]) == nil {
				t.Errorf("%s %s: tags %v are not declared", method, path, op.Tags)
			}
		}
	}
}

func TestOpenAPIDocumentDeclaresHEADBesideEveryGET(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for path, item := range doc.Paths.Map() {
		if item.Get == nil {
			if item.Head != nil {
				t.Errorf("HEAD %s is declared without GET", path)
			}
			continue
		}
		if item.Head == nil {
			t.Errorf("GET %s has no HEAD beside it", path)
			continue
		}
		if !slices.Equal(item.Head.Tags, item.Get.Tags) || !reflect.DeepEqual(item.Head.Parameters, item.Get.Parameters) ||
			!reflect.DeepEqual(item.Head.Security, item.Get.Security) {
			t.Errorf("HEAD %s differs from GET in tags, parameters or security", path)
		}
		for status := range item.Get.Responses.Map() {
			class := status[:1] + "XX"
			resp := item.Head.Responses.Value(class)
			if resp == nil {
				t.Errorf("HEAD %s: no %s response for GET's %s", path, class, status)
				continue
			}
			if h := resp.Value.Headers["X-Request-ID"]; len(resp.Value.Content) != 0 || h == nil || !h.Value.Required {
				t.Errorf("HEAD %s %s: has content or lacks a required X-Request-ID", path, class)
			}
		}
	}
}

// TestOpenAPIDocumentKeepsTheLintersRules checks what .ci/lint-openapi's
// linters (Redocly recommended, spectral:oas) found missing before: every
// operation declares its security (open ones none), servers, the license's
// url and a type beside every nullable.
func TestOpenAPIDocumentKeepsTheLintersRules(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	if len(doc.Servers) == 0 {
		t.Error("no servers")
	}
	if doc.Info.License == nil || doc.Info.License.URL == "" || doc.Info.Contact == nil {
		t.Error("info has no license url or no contact")
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil {
				t.Errorf("%s %s: no security", method, path)
			}
			if op.Description == "" {
				t.Errorf("%s %s: no description", method, path)
			}
			if open := slices.Contains(op.Tags, healthTag); open != (op.Security != nil && len(*op.Security) == 0) {
				t.Errorf("%s %s: tagged %s is %v but security %v", method, path, healthTag, open, op.Security)
			}
		}
	}
	for name, schema := range doc.Components.Schemas {
		checkNullablesTyped(t, name, schema)
	}
}

// checkNullablesTyped fails t for every inline schema under ref that is
// nullable without a type.
func checkNullablesTyped(t *testing.T, at string, ref *openapi3.SchemaRef) {
	t.Helper()
	if ref == nil || ref.Ref != "" {
		return
	}
	s := ref.Value
	if s.Nullable && s.Type == nil {
		t.Errorf("%s is nullable without a type", at)
	}
	for name, p := range s.Properties {
		checkNullablesTyped(t, at+"."+name, p)
	}
	checkNullablesTyped(t, at+"[]", s.Items)
	for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		checkNullablesTyped(t, at+"/of", sub)
	}
}

func TestOpenAPIDocumentCommandsHonourIdempotencyKey(t *testing.T) {
	doc := loadOpenAPIDocument(t)
	for _, path := range []string{"/tickets/issue", "/tickets/refund", "/showings", "/showings/{showing_id}/holds"} {
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
		"/docs":  {"/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js", "/docs/openapi.json"},
		"/redoc": {"/redoc/redoc.standalone.js", "/docs/openapi.json"},
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
			if ref == "/docs/openapi.json" {
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
	if w := get(t, e, "/docs/"); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), get(t, e, "/docs").Body.Bytes()) {
		t.Errorf("GET /docs/: status %d, want 200 and the page of /docs", w.Code)
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

// fetchedURL matches an address outside the service in a place where a
// browser fetches it by itself: an element's src, a CSS url() or @import,
// fetch, importScripts or an XMLHttpRequest. Links (href) are only followed
// when clicked.
var fetchedURL = regexp.MustCompile(`(?:\bsrc\s*[:=]\s*|url\(\s*|@import\s+|fetch\(\s*|importScripts\(\s*|\.open\(\s*["'][A-Z]+["']\s*,\s*)["'` + "`" + `]?(?:https?:)?//[^"'` + "`" + `)\s]*`)

func TestReDocFetchesNothingOutsideTheService(t *testing.T) {
	e := docsEngine(t)
	for _, path := range []string{"/redoc", "/redoc/redoc.standalone.js"} {
		body := get(t, e, path).Body.String()
		if m := fetchedURL.FindAllString(body, -1); len(m) > 0 {
			t.Errorf("GET %s fetches from outside the service: %q", path, m)
		}
		if strings.Contains(body, "cdn.redoc.ly") {
			t.Errorf("GET %s still names cdn.redoc.ly", path)
		}
	}
	bundle := get(t, e, "/redoc/redoc.standalone.js").Body.String()
	if !strings.Contains(bundle, `src:"/favicon.ico"`) {
		t.Error("the ReDoc footer logo is not the service's /favicon.ico")
	}
	if !strings.Contains(string(mustDocFile(docsAssets, "assets/redoc.standalone.js", contentTypeJS, cacheAsset).body), redocCDNLogo) {
		t.Error("the bundle on disk is no longer the unmodified npm file that fetches " + redocCDNLogo)
	}
}

func TestFaviconIsServed(t *testing.T) {
	w := get(t, docsEngine(t), "/favicon.ico")
	body := w.Body.Bytes()
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/x-icon" || w.Header().Get("ETag") == "" {
		t.Fatalf("GET /favicon.ico: status %d, Content-Type %q, ETag %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("ETag"))
	}
	// An ICO header (reserved 0, type 1, one image) and the PNG it holds.
	if !bytes.HasPrefix(body, []byte{0, 0, 1, 0, 1, 0}) || !bytes.Contains(body, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("GET /favicon.ico is not an icon: % x", body[:min(len(body), 32)])
	}
}

// TestDocsPagesShowTheOperationsWithoutHEADAndOPTIONSAndLocksWhereKeysAreNeeded
// checks the document /docs and /redoc show (/docs/openapi.json): a valid
// OpenAPI document with every GET and POST operation of /openapi.json, in
// its order, and no HEAD or OPTIONS; with access control off no security
// requirement or scheme and a note saying no key is needed; with it on a key
// required exactly on the operations that name roles.
func TestDocsPagesShowTheOperationsWithoutHEADAndOPTIONSAndLocksWhereKeysAreNeeded(t *testing.T) {
	full := loadOpenAPIDocument(t)
	for _, accessControl := range []bool{false, true} {
		gin.SetMode(gin.TestMode)
		e := gin.New()
		registerDocs(e, accessControl)
		w := get(t, e, "/docs/openapi.json")
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || w.Header().Get("ETag") == "" {
			t.Fatalf("GET /docs/openapi.json: %d %q", w.Code, w.Header())
		}
		ui, err := openapi3.NewLoader().LoadFromData(w.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := ui.Validate(context.Background()); err != nil {
			t.Errorf("access control %v: the pages' document is not valid: %v", accessControl, err)
		}
		ops, secured := 0, 0
		for path, item := range full.Paths.Map() {
			for method, op := range item.Operations() {
				shown := ui.Paths.Value(path)
				var got *openapi3.Operation
				if shown != nil {
					got = shown.GetOperation(method)
				}
				if method == http.MethodHead || method == http.MethodOptions {
					if got != nil {
						t.Errorf("access control %v: the pages show %s %s", accessControl, method, path)
					}
					continue
				}
				ops++
				if got == nil {
					t.Errorf("access control %v: the pages leave out %s %s", accessControl, method, path)
					continue
				}
				needsKey := op.Security != nil && len(*op.Security) > 0
				switch {
				case !accessControl && got.Security != nil:
					t.Errorf("access control off: %s %s shows security %v", method, path, *got.Security)
				case accessControl && needsKey && (got.Security == nil || len(*got.Security) != 2 || slices.ContainsFunc(*got.Security, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })):
					t.Errorf("access control on: %s %s shows security %v, want a key required", method, path, got.Security)
				case accessControl && !needsKey && got.Security != nil && len(*got.Security) > 0:
					t.Errorf("access control on: %s %s needs no role but shows security %v", method, path, *got.Security)
				}
				if needsKey {
					secured++
				}
			}
		}
		if ops != 29 || secured != 18 {
			t.Errorf("the document has %d GET, POST and DELETE operations, %d with roles; want 29 and 18 (update this test with the API)", ops, secured)
		}
		if schemes := ui.Components.SecuritySchemes; (len(schemes) > 0) != accessControl {
			t.Errorf("access control %v: the pages' security schemes are %v", accessControl, schemes)
		}
		note := map[bool]string{false: "**This server has access control off**", true: "**This server has access control on**"}[accessControl]
		if !strings.HasPrefix(ui.Info.Description, note) || !strings.Contains(ui.Info.Description, "(/openapi.json)") {
			t.Errorf("access control %v: the description begins %.200q", accessControl, ui.Info.Description)
		}
		var fullPaths, shownPaths []string
		for _, doc := range []struct {
			raw   []byte
			paths *[]string
		}{{OpenAPIDocument(), &fullPaths}, {w.Body.Bytes(), &shownPaths}} {
			top, err := objectMembers(doc.raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range top {
				if m.key == "paths" {
					paths, _ := objectMembers(m.value)
					for _, p := range paths {
						*doc.paths = append(*doc.paths, p.key)
					}
				}
			}
		}
		if !slices.Equal(fullPaths, shownPaths) {
			t.Errorf("the pages list the paths as\n%q\nthe document does as\n%q", shownPaths, fullPaths)
		}
	}
	if w := get(t, docsEngine(t), "/openapi.json"); !bytes.Equal(w.Body.Bytes(), OpenAPIDocument()) {
		t.Error("/openapi.json is not the whole document")
	}
}
