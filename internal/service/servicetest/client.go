package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/service"
)

// Client talks to a service over real HTTP and checks every exchange
// against the OpenAPI document, so the document and the server cannot drift.
type Client struct {
	t testing.TB
	// Base is the service's address, http://host:port.
	Base string
	// HTTP sends Do's requests; a request sent through it directly is not
	// checked against the document.
	HTTP   *http.Client
	router routers.Router
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// SpecRouter routes requests to the OpenAPI document's operations.
func SpecRouter() (routers.Router, error) {
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

// NewClient returns a client of svc.
func NewClient(t testing.TB, svc *service.Service) *Client {
	t.Helper()
	return NewClientAt(t, "http://"+svc.Addr())
}

// NewClientAt is NewClient for the service at base (http://host:port),
// such as a ticketd process.
func NewClientAt(t testing.TB, base string) *Client {
	t.Helper()
	router, err := SpecRouter()
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	return &Client{t: t, Base: base, HTTP: &http.Client{Timeout: 30 * time.Second}, router: router}
}

// NewHandlerClient is NewClient for svc's handler called in process, without
// a connection: fuzz targets use it, as it is fast and hands the handler
// header bytes that no HTTP client would put on the wire.
func NewHandlerClient(t testing.TB, svc *service.Service) *Client {
	t.Helper()
	c := NewClient(t, svc)
	c.HTTP = &http.Client{Transport: handlerTransport{svc.Handler()}}
	return c
}

// handlerTransport answers requests by calling a handler, as httptest does.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// Response is an HTTP exchange's outcome.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.Body)
	}
	return v
}

// Do sends a request; body is sent as is when it is a string or []byte, else
// encoded as JSON, with Content-Type application/json unless headers give
// another ("" for none). headers are name, value pairs.
func (c *Client) Do(method, path string, body any, headers ...string) Response {
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
	req, err := http.NewRequest(method, c.Base+path, bytes.NewReader(raw))
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
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.CheckAgainstSpec(req, raw, resp, out)
	if resp.Header.Get("X-Request-ID") == "" {
		c.t.Errorf("%s %s: response has no X-Request-ID", method, path)
	}
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		c.t.Errorf("%s %s: error %d has Content-Type %q, want application/problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// CheckAgainstSpec validates the response (status, headers, body) against the
// OpenAPI operation the request matches. Requests are not validated: tests
// send invalid requests on purpose.
func (c *Client) CheckAgainstSpec(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
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
