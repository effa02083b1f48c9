// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables and carries W3C trace context in event metadata.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is a tracer provider and the propagator of incoming and outgoing
// trace context.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// Enabled reports whether the environment asks for traces: OTEL_SDK_DISABLED
// is not true, and OTEL_TRACES_EXPORTER names an exporter other than none or
// an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if exporter := os.Getenv("OTEL_TRACES_EXPORTER"); exporter != "" {
		return exporter != "none"
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv returns the tracing the standard environment configures for the
// service named service (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// override it): when Enabled, a provider exporting in batches (OTEL_BSP_*)
// with the sampler of OTEL_TRACES_SAMPLER to the exporter of
// OTEL_TRACES_EXPORTER (default otlp, over OTEL_EXPORTER_OTLP_PROTOCOL and
// the other OTEL_EXPORTER_OTLP_* variables; console writes to stdout); else a provider that records
// nothing but still passes incoming trace context on. The propagator is
// OTEL_PROPAGATORS' (default tracecontext,baggage). It fails, naming the
// variable, on a value it cannot use.
func FromEnv(ctx context.Context, service string) (*Tracing, error) {
	propagator, err := propagatorFromEnv()
	if err != nil {
		return nil, err
	}
	t := Off()
	t.Propagator = propagator
	if !Enabled() {
		return t, nil
	}
	exporter, err := spanExporter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("$OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	t.Provider, t.shutdown = provider, provider.Shutdown
	return t, nil
}

// grpcExporter makes the OTLP/gRPC span exporter; nil unless the binary is
// built with the otlpgrpc tag (grpc.go), which keeps gRPC's weight (build
// time and binary size) out of the default build.
var grpcExporter func(context.Context) (sdktrace.SpanExporter, error)

// spanExporter returns the exporter OTEL_TRACES_EXPORTER names (otlp, the
// default, or console) over the OTLP protocol the OTEL_EXPORTER_OTLP_*
// variables name (http/protobuf, the default, or grpc). It fails naming the
// variable whose value it cannot use.
func spanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	switch exporter := os.Getenv("OTEL_TRACES_EXPORTER"); exporter {
	case "", "otlp":
	case "console":
		return stdouttrace.New()
	default:
		return nil, envError("OTEL_TRACES_EXPORTER", errors.New("unknown exporter: want otlp, console or none"))
	}
	variable, protocol, _ := otlpEnv("PROTOCOL")
	switch {
	case protocol == "" || protocol == "http/protobuf":
		return newOTLPHTTPExporter(ctx)
	case protocol == "grpc" && grpcExporter != nil:
		return grpcExporter(ctx)
	case protocol == "grpc":
		return nil, envError(variable, errors.New("this ticketd is built without OTLP over gRPC: use http/protobuf, or build with -tags otlpgrpc"))
	default:
		return nil, envError(variable, errors.New("unknown OTLP protocol: want http/protobuf or grpc"))
	}
}

// propagatorFromEnv returns the propagators OTEL_PROPAGATORS lists, by
// default tracecontext and baggage; it fails on a name it does not know.
func propagatorFromEnv() (propagation.TextMapPropagator, error) {
	names := strings.FieldsFunc(os.Getenv("OTEL_PROPAGATORS"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(names) == 0 {
		return autoprop.NewTextMapPropagator(), nil
	}
	propagator, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("$OTEL_PROPAGATORS=%q: %w", os.Getenv("OTEL_PROPAGATORS"), err)
	}
	return propagator, nil
}

// Off returns tracing that records nothing and propagates W3C trace
// context and baggage: a span started in a context carrying a remote span
// context (an incoming traceparent) carries that span context on.
func Off() *Tracing {
	return &Tracing{
		Provider:   noop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   func(context.Context) error { return nil },
	}
}

// Shutdown exports the spans still buffered and stops the provider; it
// returns the exporter's error. Tracing built as a literal has nothing to
// stop: its caller owns the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// traceContext is the W3C propagator of the trace context stored on events.
var traceContext = propagation.TraceContext{}

// Traceparent returns the W3C traceparent and tracestate of the span in
// ctx; both are empty when ctx carries no valid span context.
func Traceparent(ctx context.Context) (traceparent, tracestate string) {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier.Get("traceparent"), carrier.Get("tracestate")
}

// ContextWithTraceparent returns ctx carrying the remote span context that
// traceparent and tracestate encode; ctx unchanged when they are not valid.
func ContextWithTraceparent(ctx context.Context, traceparent, tracestate string) context.Context {
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}
