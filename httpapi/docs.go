package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is httpapi/openapi.json, the OpenAPI document of the API.
//
//go:embed openapi.json
var openAPIDocument []byte

// docsAssets holds the documentation pages, the ReDoc bundle and the
// Swagger UI files the page loads (only those: the npm package's other
// bundles and source maps would add 9 MB to the binary).
//
//go:embed assets/swagger-ui.html assets/redoc.html assets/redoc.standalone.js assets/favicon.ico
//go:embed assets/swagger-ui/swagger-ui.css assets/swagger-ui/swagger-ui-bundle.js assets/swagger-ui/swagger-ui-standalone-preset.js
//go:embed assets/swagger-ui/favicon-32x32.png assets/swagger-ui/favicon-16x16.png
var docsAssets embed.FS

// redocCDNLogo is the one address the ReDoc bundle fetches from outside the
// service: the logo of its "API docs by Redocly" footer. It is served
// replaced by the service's own /favicon.ico.
const redocCDNLogo = "https://cdn.redoc.ly/redoc/logo-mini.svg"

// OpenAPIDocument returns the embedded OpenAPI document (the file
// httpapi/openapi.json) as bytes. Each call returns a fresh copy.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

// Cache-Control values of the documentation routes: pages and the document
// are revalidated on every use, assets may be reused for a day.
const (
	cacheRevalidate = "no-cache"
	cacheAsset      = "public, max-age=86400"
)

// Content types of the documentation routes.
const (
	contentTypeJSON = "application/json"
	contentTypeHTML = "text/html; charset=utf-8"
	contentTypeJS   = "text/javascript; charset=utf-8"
	contentTypeCSS  = "text/css; charset=utf-8"
	contentTypePNG  = "image/png"
	contentTypeICO  = "image/x-icon"
)

// docFile is a static response of the documentation routes.
type docFile struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

// mustDocFile reads name from fsys. The files are embedded at build time, so
// a missing one is a programming error and panics.
func mustDocFile(fsys fs.FS, name, contentType, cacheControl string) docFile {
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic("httpapi: embedded documentation file: " + err.Error())
	}
	return newDocFile(body, contentType, cacheControl)
}

// newDocFile serves body with an ETag of its content.
func newDocFile(body []byte, contentType, cacheControl string) docFile {
	sum := sha256.Sum256(body)
	return docFile{body: body, contentType: contentType, cacheControl: cacheControl,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

var (
	swaggerUIPage = mustDocFile(docsAssets, "assets/swagger-ui.html", contentTypeHTML, cacheRevalidate)
	redocPage     = mustDocFile(docsAssets, "assets/redoc.html", contentTypeHTML, cacheRevalidate)
	redocBundle   = localRedocBundle(mustDocFile(docsAssets, "assets/redoc.standalone.js", contentTypeJS, cacheAsset))
	favicon       = mustDocFile(docsAssets, "assets/favicon.ico", contentTypeICO, cacheAsset)

	// uiDocuments are the OpenAPI document as the pages show it, served at
	// /docs/openapi.json, by whether access control is on (see uiDocument).
	uiDocuments = map[bool]docFile{false: mustUIDocument(false), true: mustUIDocument(true)}

	// swaggerUIFiles are the files served under /docs/, by name.
	swaggerUIFiles = map[string]docFile{
		"swagger-ui.css":                  mustDocFile(docsAssets, "assets/swagger-ui/swagger-ui.css", contentTypeCSS, cacheAsset),
		"swagger-ui-bundle.js":            mustDocFile(docsAssets, "assets/swagger-ui/swagger-ui-bundle.js", contentTypeJS, cacheAsset),
		"swagger-ui-standalone-preset.js": mustDocFile(docsAssets, "assets/swagger-ui/swagger-ui-standalone-preset.js", contentTypeJS, cacheAsset),
		"favicon-32x32.png":               mustDocFile(docsAssets, "assets/swagger-ui/favicon-32x32.png", contentTypePNG, cacheAsset),
		"favicon-16x16.png":               mustDocFile(docsAssets, "assets/swagger-ui/favicon-16x16.png", contentTypePNG, cacheAsset),
	}
)

// mustUIDocument returns the embedded document as uiDocument gives it to the
// pages. The document is embedded at build time, so a failure is a
// programming error and panics.
func mustUIDocument(accessControl bool) docFile {
	doc, err := uiDocument(openAPIDocument, accessControl)
	if err != nil {
		panic("httpapi: the documentation pages' copy of " + err.Error())
	}
	return newDocFile(doc, contentTypeJSON, cacheRevalidate)
}

// localRedocBundle returns the ReDoc bundle f with its footer logo taken
// from /favicon.ico instead of redocCDNLogo. A bundle without that address is
// a ReDoc update whose outside requests must be looked at again: it panics.
func localRedocBundle(f docFile) docFile {
	if bytes.Count(f.body, []byte(redocCDNLogo)) != 1 {
		panic("httpapi: the ReDoc bundle does not fetch its logo from " + redocCDNLogo + " once; check what else it fetches")
	}
	return newDocFile(bytes.Replace(f.body, []byte(redocCDNLogo), []byte("/favicon.ico"), 1), f.contentType, f.cacheControl)
}

// registerDocs mounts GET /openapi.json (application/json, the embedded bytes
// verbatim), GET /docs (Swagger UI), GET /redoc (ReDoc) and GET /favicon.ico
// (the service's icon, also ReDoc's footer logo), with all assets
// embedded in the binary (no CDN, works offline). Both pages show
// /docs/openapi.json, the document as uiDocument gives it for a server whose
// access control is on or off. Swagger UI assets are under /docs/, the ReDoc
// bundle is /redoc/redoc.standalone.js; an unknown asset is a 404 problem
// and /docs/ is answered as /docs.
func registerDocs(r gin.IRoutes, accessControl bool) {
	ui := uiDocuments[accessControl]
	r.GET("/openapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", cacheRevalidate)
		c.Data(http.StatusOK, contentTypeJSON, openAPIDocument)
	})
	r.GET("/docs", serveDocFile(swaggerUIPage))
	r.GET("/docs/*filepath", func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("filepath"), "/")
		if name == "" {
			serveDocFile(swaggerUIPage)(c)
			return
		}
		f, ok := swaggerUIFiles[name]
		if name == "openapi.json" {
			f, ok = ui, true
		}
		if !ok {
			writeProblem(c, kindNotFound, "No documentation asset is at "+c.Request.URL.Path+".", nil)
			return
		}
		serveDocFile(f)(c)
	})
	r.GET("/redoc", serveDocFile(redocPage))
	r.GET("/redoc/redoc.standalone.js", serveDocFile(redocBundle))
	r.GET("/favicon.ico", serveDocFile(favicon))
}

// serveDocFile answers with f, honouring conditional (If-None-Match) and
// range requests.
func serveDocFile(f docFile) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", f.cacheControl)
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(f.body))
	}
}
