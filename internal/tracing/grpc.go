//go:build otlpgrpc

package tracing

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// With the otlpgrpc tag, OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports over gRPC.
func init() {
	grpcExporter = func(ctx context.Context) (sdktrace.SpanExporter, error) { return otlptracegrpc.New(ctx) }
}
