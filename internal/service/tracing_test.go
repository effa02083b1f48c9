package service_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/internal/tracing"
)

// startTraced starts a service whose spans go to the returned recorder.
func startTraced(t *testing.T, e servicetest.Engine) (*service.Service, *tracetest.SpanRecorder) {
	t.Helper()
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { provider.Shutdown(t.Context()) })
	cfg := e.Config(t)
	cfg.Tracing = &tracing.Tracing{Provider: provider, Propagator: propagation.TraceContext{}}
	return servicetest.Start(t, cfg), recorder
}

// endedSpan waits until recorder has an ended span named name in trace
// traceID (any trace when empty) and returns it.
func endedSpan(t *testing.T, recorder *tracetest.SpanRecorder, name, traceID string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	servicetest.WaitUntil(t, "span "+name, func() bool {
		for _, s := range recorder.Ended() {
			if s.Name() == name && (traceID == "" || s.SpanContext().TraceID().String() == traceID) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// linksTo reports whether span has a link to the span with context sc.
func linksTo(span sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range span.Links() {
		if l.SpanContext.Equal(sc) {
			return true
		}
	}
	return false
}

func TestACommandContinuesTheClientsTraceIntoItsAppendGroupCommitAndEvents(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		svc, recorder := startTraced(t, e)
		c := servicetest.NewClient(t, svc)
		r := c.Do("POST", "/tickets/issue", `{"theater_name":"CGV","user_id":"u","movie_title":"m","price_krw":1,"quantity":2}`,
			"traceparent", servicetest.ClientTraceparent, "tracestate", "vendor=opaque")
		if r.Status != 201 {
			t.Fatalf("issue: %d %s", r.Status, r.Body)
		}
		server := endedSpan(t, recorder, "POST /tickets/issue", servicetest.ClientTraceID)
		if server.Parent().SpanID().String() != servicetest.ClientSpanID || server.SpanKind() != trace.SpanKindServer {
			t.Fatalf("server span's parent is %s (kind %v), want the client's span %s", server.Parent().SpanID(), server.SpanKind(), servicetest.ClientSpanID)
		}
		for _, name := range []string{"ticketd.decode_request", "eventstore.append", "ticketd.await_position"} {
			if span := endedSpan(t, recorder, name, servicetest.ClientTraceID); span.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Errorf("%s is a child of %s, want the server span %s", name, span.Parent().SpanID(), server.SpanContext().SpanID())
			}
		}
		appendSpan := endedSpan(t, recorder, "eventstore.append", servicetest.ClientTraceID)
		commit := endedSpan(t, recorder, "eventstore.group_commit", "")
		for _, s := range recorder.Ended() {
			if s.Name() == "eventstore.group_commit" && linksTo(s, appendSpan.SpanContext()) {
				commit = s
			}
		}
		if !linksTo(commit, appendSpan.SpanContext()) || commit.SpanContext().TraceID() == appendSpan.SpanContext().TraceID() {
			t.Fatalf("no group commit span of its own trace links to the append span %s", appendSpan.SpanContext().SpanID())
		}
		if !linksTo(appendSpan, commit.SpanContext()) {
			t.Errorf("the append span does not link to its group commit %s", commit.SpanContext().SpanID())
		}

		wantParent := "00-" + servicetest.ClientTraceID + "-" + server.SpanContext().SpanID().String() + "-01"
		events := c.Do("GET", "/events", nil).JSON(t)["events"].([]any)
		if len(events) != 2 {
			t.Fatalf("%d events, want 2", len(events))
		}
		for _, e := range events {
			md := e.(map[string]any)["metadata"].(map[string]any)
			if md["traceparent"] != wantParent || md["tracestate"] != "vendor=opaque" {
				t.Errorf("event metadata %v, want traceparent %s and tracestate vendor=opaque", md, wantParent)
			}
		}
	})
}

func TestProbesAreNotTraced(t *testing.T) {
	t.Parallel()
	svc, recorder := startTraced(t, servicetest.SQLite)
	c := servicetest.NewClient(t, svc)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		c.Do("GET", path, nil, "traceparent", servicetest.ClientTraceparent)
	}
	c.Do("GET", "/tickets", nil, "traceparent", servicetest.ClientTraceparent)
	endedSpan(t, recorder, "GET /tickets", servicetest.ClientTraceID)
	for _, s := range recorder.Ended() {
		if strings.Contains(s.Name(), "z") || strings.Contains(s.Name(), "metrics") {
			t.Errorf("probe traced: %s", s.Name())
		}
	}
}
