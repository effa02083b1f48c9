package main

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/internal/tracing"
)

// clientTraceparent is the trace context a client sends: trace
// 4bf92f3577b34da6a3ce929d0e0e4736, parent span 00f067aa0ba902b7, sampled.
const (
	clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
)

// startTraced starts a service whose spans go to the returned recorder.
func startTraced(t *testing.T) (*service, *tracetest.SpanRecorder) {
	t.Helper()
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { provider.Shutdown(t.Context()) })
	cfg := testConfig(t.TempDir())
	cfg.tracing = &tracing.Tracing{Provider: provider, Propagator: propagation.TraceContext{}}
	return mustStart(t, cfg), recorder
}

// endedSpan waits until recorder has an ended span named name in trace
// traceID (any trace when empty) and returns it.
func endedSpan(t *testing.T, recorder *tracetest.SpanRecorder, name, traceID string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	waitUntil(t, "span "+name, func() bool {
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
	svc, recorder := startTraced(t)
	c := newClient(t, svc)
	r := c.do("POST", "/tickets/issue", `{"theater_name":"CGV","user_id":"u","movie_title":"m","price_krw":1,"quantity":2}`,
		"traceparent", clientTraceparent, "tracestate", "vendor=opaque")
	if r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	server := endedSpan(t, recorder, "POST /tickets/issue", clientTraceID)
	if server.Parent().SpanID().String() != clientSpanID || server.SpanKind() != trace.SpanKindServer {
		t.Fatalf("server span's parent is %s (kind %v), want the client's span %s", server.Parent().SpanID(), server.SpanKind(), clientSpanID)
	}
	for _, name := range []string{"ticketd.decode_request", "eventstore.append", "ticketd.await_position"} {
		if span := endedSpan(t, recorder, name, clientTraceID); span.Parent().SpanID() != server.SpanContext().SpanID() {
			t.Errorf("%s is a child of %s, want the server span %s", name, span.Parent().SpanID(), server.SpanContext().SpanID())
		}
	}
	appendSpan := endedSpan(t, recorder, "eventstore.append", clientTraceID)
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

	wantParent := "00-" + clientTraceID + "-" + server.SpanContext().SpanID().String() + "-01"
	events := c.do("GET", "/events", nil).json(t)["events"].([]any)
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	for _, e := range events {
		md := e.(map[string]any)["metadata"].(map[string]any)
		if md["traceparent"] != wantParent || md["tracestate"] != "vendor=opaque" {
			t.Errorf("event metadata %v, want traceparent %s and tracestate vendor=opaque", md, wantParent)
		}
	}
}

func TestProbesAreNotTraced(t *testing.T) {
	t.Parallel()
	svc, recorder := startTraced(t)
	c := newClient(t, svc)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		c.do("GET", path, nil, "traceparent", clientTraceparent)
	}
	c.do("GET", "/tickets", nil, "traceparent", clientTraceparent)
	endedSpan(t, recorder, "GET /tickets", clientTraceID)
	for _, s := range recorder.Ended() {
		if strings.Contains(s.Name(), "z") || strings.Contains(s.Name(), "metrics") {
			t.Errorf("probe traced: %s", s.Name())
		}
	}
}
