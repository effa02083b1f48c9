package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var testPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traceEngine serves GET /tickets/:id through mw and saves the trace context
// each request's handler saw, injected back into headers, in seen.
func traceEngine(mw gin.HandlerFunc, seen *http.Header) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(mw)
	e.GET("/tickets/:id", func(c *gin.Context) {
		h := http.Header{}
		testPropagator.Inject(c.Request.Context(), propagation.HeaderCarrier(h))
		*seen = h
		c.Status(http.StatusOK)
	})
	return e
}

// With tracing off the handler sees the same trace context and baggage as
// under otelgin's non-recording spans, which is what the event metadata and
// outgoing messages carry on.
func TestTraceContextWithTracingOffIsWhatOtelginPassesOn(t *testing.T) {
	off := noop.NewTracerProvider()
	otel := otelgin.Middleware("ticketd", otelgin.WithTracerProvider(off), otelgin.WithPropagators(testPropagator), otelgin.WithGinFilter(notOperations))
	for _, headers := range []map[string]string{
		{"traceparent": testTraceparent, "tracestate": "vendor=opaque", "baggage": "tenant=a"},
		{"traceparent": "not-a-traceparent"},
		{},
	} {
		seen := func(mw gin.HandlerFunc) (h http.Header) {
			req := httptest.NewRequest("GET", "/tickets/x", nil)
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			traceEngine(mw, &h).ServeHTTP(httptest.NewRecorder(), req)
			return h
		}
		want, got := seen(otel), seen(withTraceContext(off, testPropagator))
		if len(want) != len(got) || want.Get("traceparent") != got.Get("traceparent") || want.Get("tracestate") != got.Get("tracestate") || want.Get("baggage") != got.Get("baggage") {
			t.Errorf("request headers %v: handler saw %v, otelgin passes on %v", headers, got, want)
		}
	}
	if _, off := trace.TracerProvider(off).(noop.TracerProvider); !off {
		t.Fatal("noop.NewTracerProvider is not the provider withTraceContext takes for tracing off")
	}
}

// BenchmarkTraceContext compares, on GET /tickets/:id with a traceparent,
// otelgin with a provider that records nothing (before) with
// withTraceContext for tracing off (after).
func BenchmarkTraceContext(b *testing.B) {
	off := noop.NewTracerProvider()
	for name, mw := range map[string]gin.HandlerFunc{
		"otelgin-noop":     otelgin.Middleware("ticketd", otelgin.WithTracerProvider(off), otelgin.WithPropagators(testPropagator), otelgin.WithGinFilter(notOperations)),
		"tracecontext-off": withTraceContext(off, testPropagator),
	} {
		b.Run(name, func(b *testing.B) {
			var seen http.Header
			e := traceEngine(mw, &seen)
			req := httptest.NewRequest("GET", "/tickets/x", nil).WithContext(context.Background())
			req.Header.Set("traceparent", testTraceparent)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(w, req)
			}
		})
	}
}
