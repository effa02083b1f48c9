package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// otlpRequest is one export request a receiver got, its body decoded.
type otlpRequest struct {
	path   string
	header http.Header
	body   []byte // as sent, before decompression
	export *coltracepb.ExportTraceServiceRequest
	at     time.Time
}

// otlpReceiver is an OTLP/HTTP trace receiver on a loopback listener. It
// records every request and answers the nth (from 0) with respond(w, r, n),
// by default 200 and an empty ExportTraceServiceResponse.
type otlpReceiver struct {
	*httptest.Server
	respond func(w http.ResponseWriter, r *http.Request, n int)

	mu       sync.Mutex
	requests []otlpRequest
}

// startReceiver starts a receiver (over TLS when tls is set), closed when
// t ends.
func startReceiver(t *testing.T, tls bool, respond func(w http.ResponseWriter, r *http.Request, n int)) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{respond: respond}
	if tls {
		rcv.Server = httptest.NewTLSServer(rcv)
	} else {
		rcv.Server = httptest.NewServer(rcv)
	}
	t.Cleanup(rcv.Close)
	return rcv
}

func (rcv *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	decoded := body
	if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			decoded, err = io.ReadAll(zr)
		}
	}
	export := &coltracepb.ExportTraceServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(decoded, export)
	}
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, r.Method+": "+err.Error(), http.StatusBadRequest)
		return
	}
	rcv.mu.Lock()
	n := len(rcv.requests)
	rcv.requests = append(rcv.requests, otlpRequest{path: r.URL.Path, header: r.Header, body: body, export: export, at: time.Now()})
	rcv.mu.Unlock()
	if rcv.respond != nil {
		rcv.respond(w, r, n)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

// received returns the requests so far.
func (rcv *otlpReceiver) received() []otlpRequest {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]otlpRequest(nil), rcv.requests...)
}

// exportOneSpan exports one span through the client the environment
// configures, with retry policy retry, and returns the export's error.
func exportOneSpan(t *testing.T, retry retryPolicy) error {
	t.Helper()
	client, err := newOTLPHTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	client.retry = retry
	exporter, err := otlptrace.New(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer exporter.Shutdown(context.Background())
	return exporter.ExportSpans(t.Context(), tracetest.SpanStubs{{Name: "one"}}.Snapshots())
}

// quickRetry retries at once, for up to a minute.
var quickRetry = retryPolicy{initial: time.Millisecond, max: time.Millisecond, maxElapsed: time.Minute}

func stringAttributes(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = "int:" + strconv.FormatInt(v.IntValue, 10)
		}
	}
	return m
}

// FromEnv's provider posts protobuf to $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces
// with the headers of OTEL_EXPORTER_OTLP_HEADERS; the receiver decodes the
// spans with their names, attributes, parents and links, and the resource's
// service.name.
func TestSpansReachAnOTLPReceiverWithAttributesParentsLinksAndServiceName(t *testing.T) {
	rcv := startReceiver(t, false, nil)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret, X-Tenant = blue ")
	tr, err := FromEnv(t.Context(), "ticketd-test")
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider.Tracer("github.com/ticketd/ticketd/internal/tracing/test")
	ctx, parent := tracer.Start(t.Context(), "parent", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", "/tickets/issue"), attribute.Int("quantity", 2)))
	_, sibling := tracer.Start(context.Background(), "sibling")
	_, child := tracer.Start(ctx, "child", trace.WithLinks(trace.Link{SpanContext: sibling.SpanContext()}))
	child.End()
	sibling.End()
	parent.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	spans := map[string]map[string]string{}
	for _, req := range rcv.received() {
		if req.path != "/v1/traces" || req.header.Get("Content-Type") != "application/x-protobuf" ||
			req.header.Get("Authorization") != "Bearer s3cret" || req.header.Get("X-Tenant") != "blue" {
			t.Errorf("request to %s with headers %v; want /v1/traces, protobuf and the headers of $OTEL_EXPORTER_OTLP_HEADERS", req.path, req.header)
		}
		for _, rs := range req.export.ResourceSpans {
			service := stringAttributes(rs.Resource.GetAttributes())["service.name"]
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					got := stringAttributes(s.Attributes)
					got["service"], got["scope"] = service, ss.Scope.GetName()
					got["trace"], got["span"], got["parent"] = hex.EncodeToString(s.TraceId), hex.EncodeToString(s.SpanId), hex.EncodeToString(s.ParentSpanId)
					got["kind"] = s.Kind.String()
					for _, l := range s.Links {
						got["link"] = hex.EncodeToString(l.SpanId)
					}
					spans[s.Name] = got
				}
			}
		}
	}
	p, c := spans["parent"], spans["child"]
	if len(spans) != 3 || p["service"] != "ticketd-test" || p["scope"] != "github.com/ticketd/ticketd/internal/tracing/test" {
		t.Fatalf("received %v; want parent, child and sibling of service ticketd-test", spans)
	}
	if p["http.route"] != "/tickets/issue" || p["quantity"] != "int:2" || p["kind"] != "SPAN_KIND_SERVER" || p["parent"] != "" {
		t.Errorf("parent span %v; want its attributes, kind server and no parent", p)
	}
	if c["parent"] != parent.SpanContext().SpanID().String() || c["trace"] != parent.SpanContext().TraceID().String() ||
		c["link"] != sibling.SpanContext().SpanID().String() {
		t.Errorf("child span %v; want parent %s in its trace, linked to %s", c, parent.SpanContext().SpanID(), sibling.SpanContext().SpanID())
	}
}

// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is and wins over
// OTEL_EXPORTER_OTLP_ENDPOINT, whose path is a base for /v1/traces; the
// TRACES_ headers replace the general ones.
func TestEndpointAndHeaderVariables(t *testing.T) {
	rcv := startReceiver(t, false, nil)
	for _, c := range []struct {
		env                map[string]string
		wantPath, wantTeam string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL + "/base/", "OTEL_EXPORTER_OTLP_HEADERS": "team=a,"}, "/base/v1/traces", "a"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rcv.URL + "/custom/path", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_HEADERS": "team=a", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "team=b"}, "/custom/path", "b"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rcv.URL, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "team=%E2%9C%93"}, "/", "✓"},
	} {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
			t.Setenv(name, c.env[name])
		}
		before := len(rcv.received())
		if err := exportOneSpan(t, quickRetry); err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		got := rcv.received()[before:]
		if len(got) != 1 || got[0].path != c.wantPath || got[0].header.Get("Team") != c.wantTeam {
			t.Errorf("%v: %d requests, the first %+v; want one to %s with team %s", c.env, len(got), got, c.wantPath, c.wantTeam)
		}
	}
}

// 503 and 429 are retried with the same request, 400 is not, and a
// receiver that stays unavailable is given up on when the retry time is over.
func TestExportRetriesOnlyWhatTheSpecSaysIsRetryable(t *testing.T) {
	answers := map[string][]int{"/retry/v1/traces": {503, 429, 200}, "/bad/v1/traces": {400, 200}, "/down/v1/traces": {503, 503, 503, 503, 503, 503}}
	var mu sync.Mutex
	rcv := startReceiver(t, false, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		defer mu.Unlock()
		code := answers[r.URL.Path][0]
		answers[r.URL.Path] = answers[r.URL.Path][1:]
		w.WriteHeader(code)
	})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL+"/retry")
	if err := exportOneSpan(t, quickRetry); err != nil {
		t.Errorf("after 503 and 429 then 200: %v", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL+"/bad")
	if err := exportOneSpan(t, quickRetry); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("after 400: %v; want the 400", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL+"/down")
	if err := exportOneSpan(t, retryPolicy{initial: 10 * time.Millisecond, max: 10 * time.Millisecond, maxElapsed: 30 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "503") {
		t.Errorf("with 503 for longer than the retry time: %v; want it given up on, saying 503", err)
	}
	count := map[string]int{}
	bodies := map[string][]byte{}
	for _, req := range rcv.received() {
		count[req.path]++
		if prev, ok := bodies[req.path]; ok && !bytes.Equal(prev, req.body) {
			t.Errorf("%s: a retry sent another body", req.path)
		}
		bodies[req.path] = req.body
	}
	if count["/retry/v1/traces"] != 3 || count["/bad/v1/traces"] != 1 || count["/down/v1/traces"] < 2 {
		t.Errorf("requests per path %v; want 3 for 503, 429, 200, 1 for 400 and several while down", count)
	}
}

// A receiver's Retry-After sets the wait before the next attempt.
func TestExportWaitsAsRetryAfterSays(t *testing.T) {
	rcv := startReceiver(t, false, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	if err := exportOneSpan(t, quickRetry); err != nil {
		t.Fatal(err)
	}
	got := rcv.received()
	if len(got) != 2 || got[1].at.Sub(got[0].at) < time.Second {
		t.Errorf("%d attempts; want a second one a second after the first", len(got))
	}
}

// OTEL_EXPORTER_OTLP_TIMEOUT bounds an attempt on a receiver that does not
// answer.
func TestExportTimesOut(t *testing.T) {
	rcv := startReceiver(t, false, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "100")
	start := time.Now()
	if err := exportOneSpan(t, quickRetry); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("export to a receiver that does not answer: %v after %s; want a timeout after 100 ms", err, time.Since(start))
	}
}

// OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses the request.
func TestExportCompressesWithGzip(t *testing.T) {
	rcv := startReceiver(t, false, nil)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	if err := exportOneSpan(t, quickRetry); err != nil {
		t.Fatal(err)
	}
	got := rcv.received()
	if len(got) != 1 || got[0].header.Get("Content-Encoding") != "gzip" || got[0].export.ResourceSpans[0].ScopeSpans[0].Spans[0].Name != "one" {
		t.Errorf("requests %+v; want one gzip request carrying span one", got)
	}
}

// OTEL_EXPORTER_OTLP_CERTIFICATE names the CA that verifies an https
// receiver; without it the receiver's certificate is refused.
func TestExportVerifiesAnHTTPSReceiverWithTheCertificateFile(t *testing.T) {
	rcv := startReceiver(t, true, nil)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	if err := exportOneSpan(t, quickRetry); err == nil {
		t.Error("export to a receiver of an unknown CA succeeded")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
	if err := exportOneSpan(t, quickRetry); err != nil {
		t.Fatal(err)
	}
	if got := rcv.received(); len(got) != 1 {
		t.Errorf("%d requests, want 1", len(got))
	}
}

// A receiver that takes the request but rejects spans makes the export fail
// with its count and message.
func TestExportReportsAPartialSuccess(t *testing.T) {
	rcv := startReceiver(t, false, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{
			PartialSuccess: &coltracepb.ExportTracePartialSuccess{RejectedSpans: 1, ErrorMessage: "too old"}})
		w.Write(out)
	})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	if err := exportOneSpan(t, quickRetry); err == nil || !strings.Contains(err.Error(), "rejected 1 spans: too old") {
		t.Errorf("export with a partial success: %v; want the rejection", err)
	}
}

// A value the exporter cannot use stops FromEnv with the variable named.
func TestBadOTLPVariablesAreNamed(t *testing.T) {
	for variable, value := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":           "localhost:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    "ftp://collector/v1/traces",
		"OTEL_EXPORTER_OTLP_HEADERS":            "authorization",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":     "bad name=x",
		"OTEL_EXPORTER_OTLP_TIMEOUT":            "10s",
		"OTEL_EXPORTER_OTLP_COMPRESSION":        "zstd",
		"OTEL_EXPORTER_OTLP_CERTIFICATE":        "/nonexistent/ca.pem",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/nonexistent/client.pem",
	} {
		t.Run(variable, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv(variable, value)
			_, err := FromEnv(t.Context(), "test")
			if err == nil || !strings.Contains(err.Error(), "$"+variable+"=") {
				t.Errorf("FromEnv with %s=%s: %v; want the variable named", variable, value, err)
			}
		})
	}
}
