package tracing

import (
	"context"
	"strings"
	"testing"
)

// Without the otlpgrpc tag, OTLP over gRPC is refused naming the variable
// and saying how to get it, not failing later at export time.
func TestGRPCProtocolWithoutTheBuildTagSaysHowToGetIt(t *testing.T) {
	if grpcExporter != nil {
		t.Skip("built with -tags otlpgrpc")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	_, err := FromEnv(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), `$OTEL_EXPORTER_OTLP_PROTOCOL="grpc"`) || !strings.Contains(err.Error(), "-tags otlpgrpc") {
		t.Errorf("FromEnv with OTLP over gRPC: %v; want the variable named and the build tag", err)
	}
}

// With the otlpgrpc tag, OTLP over gRPC gives a working provider.
func TestGRPCProtocolWithTheBuildTag(t *testing.T) {
	if grpcExporter == nil {
		t.Skip("needs -tags otlpgrpc")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	tr, err := FromEnv(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr.Shutdown(ctx)
}

func TestExportersByName(t *testing.T) {
	for exporter, ok := range map[string]bool{"otlp": true, "console": true, "": true, "zipkin": false} {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
		t.Setenv("OTEL_TRACES_EXPORTER", exporter)
		tr, err := FromEnv(context.Background(), "test")
		if (err == nil) != ok {
			t.Errorf("OTEL_TRACES_EXPORTER=%q: %v", exporter, err)
		}
		if err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			tr.Shutdown(ctx)
		}
	}
}
