package httpapi

import (
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// withTraceContext starts a server span per request (but the probes and
// /metrics) continuing the trace context of its headers. With a provider
// that records nothing (tracing off) it only puts that context in the
// request's context: what otelgin's non-recording spans amount to, without
// their attributes and metric records, which cost about 5% of the service's
// CPU under load.
func withTraceContext(tp trace.TracerProvider, propagator propagation.TextMapPropagator) gin.HandlerFunc {
	if _, off := tp.(noop.TracerProvider); !off {
		return otelgin.Middleware("ticketd", otelgin.WithTracerProvider(tp),
			otelgin.WithPropagators(propagator), otelgin.WithGinFilter(notOperations))
	}
	return func(c *gin.Context) {
		if !notOperations(c) {
			c.Next()
			return
		}
		saved := c.Request
		c.Request = saved.WithContext(propagator.Extract(saved.Context(), propagation.HeaderCarrier(saved.Header)))
		defer func() { c.Request = c.Request.WithContext(saved.Context()) }()
		c.Next()
	}
}
