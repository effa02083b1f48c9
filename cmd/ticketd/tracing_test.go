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

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// otlpSpan is one span an OTLP receiver got, with its string attributes.
type otlpSpan struct {
	service, name, traceID, spanID, parentID string
	attributes                               map[string]string
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
				attributes := map[string]string{}
				for _, kv := range s.Attributes {
					attributes[kv.Key] = kv.Value.GetStringValue()
				}
				rcv.spans = append(rcv.spans, otlpSpan{service: service, name: s.Name, attributes: attributes,
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
	addr := servicetest.FreeAddr(t)
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
	req.Header.Set("traceparent", servicetest.ClientTraceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("issue: %s", resp.Status)
	}
	server := receiver.wait(t, "ticketd", "POST /tickets/issue", servicetest.ClientTraceID)
	if server.parentID != servicetest.ClientSpanID {
		t.Fatalf("server span's parent is %s, want the client's %s", server.parentID, servicetest.ClientSpanID)
	}
	if server.attributes["http.route"] != "/tickets/issue" || server.attributes["http.request.method"] != "POST" {
		t.Errorf("server span's attributes %v; want http.route /tickets/issue and http.request.method POST", server.attributes)
	}
	servicetest.WaitUntil(t, "tail prints the event with its traceparent", func() bool {
		return strings.Contains(printed.String(), `"traceparent":"00-`+servicetest.ClientTraceID+`-`+server.spanID+`-01"`)
	})
	consumer := receiver.wait(t, "ticketd-tail", "ticketd.tail TicketIssued", servicetest.ClientTraceID)
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
