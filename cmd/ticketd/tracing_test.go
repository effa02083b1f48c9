package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
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
			"traceparent", clientTraceparent, "tracestate", "vendor=opaque")
		if r.Status != 201 {
			t.Fatalf("issue: %d %s", r.Status, r.Body)
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
		c.Do("GET", path, nil, "traceparent", clientTraceparent)
	}
	c.Do("GET", "/tickets", nil, "traceparent", clientTraceparent)
	endedSpan(t, recorder, "GET /tickets", clientTraceID)
	for _, s := range recorder.Ended() {
		if strings.Contains(s.Name(), "z") || strings.Contains(s.Name(), "metrics") {
			t.Errorf("probe traced: %s", s.Name())
		}
	}
}

// otlpSpan is one span an OTLP receiver got.
type otlpSpan struct {
	service, name, traceID, spanID, parentID string
}

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes every
// ExportTraceServiceRequest posted to /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (rcv *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		var service string
		for _, kv := range rs.Resource.GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rcv.spans = append(rcv.spans, otlpSpan{service: service, name: s.Name,
					traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

// wait returns the span named name of service in trace traceID, once received.
func (rcv *otlpReceiver) wait(t *testing.T, service, name, traceID string) otlpSpan {
	t.Helper()
	var found otlpSpan
	servicetest.WaitWithin(t, 30*time.Second, "span "+name+" of "+service, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, s := range rcv.spans {
			if s.service == service && s.name == name && s.traceID == traceID {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// The real binaries export over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// is set: the service's span continues the client's traceparent, and
// `ticketd tail` continues the service's, read from the event it prints.
func TestServeAndTailExportOneTraceOverOTLP(t *testing.T) {
	bin := parallelBinaryTest(t)
	receiver := &otlpReceiver{}
	collector := httptest.NewServer(receiver)
	defer collector.Close()
	env := append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "OTEL_BSP_SCHEDULE_DELAY=50")
	addr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--addr", addr, "--db", filepath.Join(t.TempDir(), "app.db"), "--log-level", "error")
	serve.Env, serve.Stderr = env, os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	base := "http://" + addr
	waitReady(t, base)
	tail := exec.Command(bin, "tail", "--url", base, "--from", "start")
	var printed servicetest.SyncBuffer
	tail.Env, tail.Stdout, tail.Stderr = env, &printed, os.Stderr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer tail.Process.Kill()

	req, _ := http.NewRequest("POST", base+"/tickets/issue", strings.NewReader(`{"theater_name":"CGV","user_id":"u","movie_title":"m","price_krw":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", clientTraceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("issue: %s", resp.Status)
	}
	server := receiver.wait(t, "ticketd", "POST /tickets/issue", clientTraceID)
	if server.parentID != clientSpanID {
		t.Fatalf("server span's parent is %s, want the client's %s", server.parentID, clientSpanID)
	}
	servicetest.WaitUntil(t, "tail prints the event with its traceparent", func() bool {
		return strings.Contains(printed.String(), `"traceparent":"00-`+clientTraceID+`-`+server.spanID+`-01"`)
	})
	consumer := receiver.wait(t, "ticketd-tail", "ticketd.tail TicketIssued", clientTraceID)
	if consumer.parentID != server.spanID {
		t.Fatalf("tail span's parent is %s, want the server span %s", consumer.parentID, server.spanID)
	}
	for _, cmd := range []*exec.Cmd{tail, serve} {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s after SIGTERM: %v", cmd.Args[1], err)
		}
	}
}

func TestUnknownTraceExporterIsAUsageError(t *testing.T) {
	bin := parallelBinaryTest(t)
	for variable, value := range map[string]string{"OTEL_TRACES_EXPORTER": "bogus", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon", "OTEL_PROPAGATORS": "nope"} {
		for _, command := range []string{"serve", "tail"} {
			cmd := exec.Command(bin, command)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), variable+"="+value, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "$"+variable) {
				t.Errorf("%s with %s=%s: %v, stderr %q; want exit 2 and one line naming it", command, variable, value, err, stderr.String())
			}
		}
	}
}
