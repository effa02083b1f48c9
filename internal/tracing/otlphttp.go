package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// otlpHTTPClient sends spans to an OTLP/HTTP receiver as binary protobuf
// (http/protobuf): each export is one POST of an ExportTraceServiceRequest.
// It is an otlptrace.Client, so the conversion of spans to OTLP messages is
// the SDK's. (The SDK's own client, otlptracehttp, would link gRPC and
// grpc-gateway through its collector package.)
type otlpHTTPClient struct {
	url     string
	headers http.Header
	gzip    bool
	http    *http.Client
	retry   retryPolicy

	stop     chan struct{}
	stopOnce sync.Once
}

// retryPolicy is the exponential backoff between attempts of one export:
// the first wait is initial, each next one 1.5 times longer up to max, each
// randomized by ±50%; a receiver's Retry-After overrides the wait. No
// attempt starts after maxElapsed since the first.
type retryPolicy struct {
	initial, max, maxElapsed time.Duration
}

// defaultRetry is the backoff of the OpenTelemetry Go SDK's OTLP exporters.
var defaultRetry = retryPolicy{initial: 5 * time.Second, max: 30 * time.Second, maxElapsed: time.Minute}

// OTLP/HTTP defaults of the OpenTelemetry exporter specification.
const (
	defaultOTLPEndpoint = "http://localhost:4318"
	otlpTracesPath      = "/v1/traces"
	defaultOTLPTimeout  = 10 * time.Second
)

// maxResponseBody bounds how much of a receiver's answer is read.
const maxResponseBody = 64 << 10

// otlpEnv returns the variable that sets the OTLP option named option for
// traces, and its value, trimmed: OTEL_EXPORTER_OTLP_TRACES_<option> when
// not empty, else OTEL_EXPORTER_OTLP_<option>; set reports whether either is
// (an empty variable counts as unset, as in the SDK).
func otlpEnv(option string) (variable, value string, set bool) {
	for _, variable := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + option, "OTEL_EXPORTER_OTLP_" + option} {
		if value := strings.TrimSpace(os.Getenv(variable)); value != "" {
			return variable, value, true
		}
	}
	return "OTEL_EXPORTER_OTLP_" + option, "", false
}

// envError names the variable whose value caused err.
func envError(variable string, err error) error {
	return fmt.Errorf("$%s=%q: %w", variable, os.Getenv(variable), err)
}

// newOTLPHTTPClient returns the client the OTEL_EXPORTER_OTLP_* variables
// configure, each OTEL_EXPORTER_OTLP_TRACES_* one taking precedence over
// its general twin:
//
//   - ENDPOINT: base URL, spans go to its path + /v1/traces (default
//     http://localhost:4318); TRACES_ENDPOINT is used as it is.
//   - HEADERS: name=value pairs separated by commas, values URL-encoded.
//   - TIMEOUT: milliseconds one attempt may take (default 10000; 0: no limit).
//   - COMPRESSION: gzip or none (the default).
//   - CERTIFICATE: PEM file of the CAs that verify an https receiver;
//     CLIENT_CERTIFICATE and CLIENT_KEY: PEM files of the client's own
//     certificate and key.
//
// It fails, naming the variable, on a value it cannot use.
func newOTLPHTTPClient() (*otlpHTTPClient, error) {
	endpoint, err := otlpTracesURL()
	if err != nil {
		return nil, err
	}
	c := &otlpHTTPClient{url: endpoint, headers: http.Header{}, retry: defaultRetry, stop: make(chan struct{})}
	if variable, value, set := otlpEnv("HEADERS"); set {
		if c.headers, err = parseOTLPHeaders(value); err != nil {
			return nil, envError(variable, err)
		}
	}
	timeout := defaultOTLPTimeout
	if variable, value, set := otlpEnv("TIMEOUT"); set {
		ms, err := strconv.Atoi(value)
		if err != nil || ms < 0 {
			return nil, envError(variable, errors.New("want a whole number of milliseconds"))
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	switch variable, value, _ := otlpEnv("COMPRESSION"); value {
	case "", "none":
	case "gzip":
		c.gzip = true
	default:
		return nil, envError(variable, errors.New("want gzip or none"))
	}
	tlsConfig, err := otlpTLSConfig()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	c.http = &http.Client{Transport: transport, Timeout: timeout}
	return c, nil
}

// otlpTracesURL returns the URL spans are posted to.
func otlpTracesURL() (string, error) {
	variable, value, set := otlpEnv("ENDPOINT")
	if !set {
		value = defaultOTLPEndpoint
	}
	u, err := url.Parse(value)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = errors.New("want an http:// or https:// URL")
	}
	if err != nil {
		return "", envError(variable, err)
	}
	switch {
	case variable == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" && u.Path == "":
		u.Path = "/"
	case variable != "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
		u.Path = path.Join("/", u.Path, otlpTracesPath)
	}
	return u.String(), nil
}

// parseOTLPHeaders parses the W3C-baggage-like list of
// OTEL_EXPORTER_OTLP_HEADERS: name=value pairs separated by commas, each
// value URL-decoded, spaces around names and values trimmed, empty pairs
// skipped.
func parseOTLPHeaders(list string) (http.Header, error) {
	headers := http.Header{}
	for pair := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, value, found := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !found || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) }) {
			return nil, fmt.Errorf("%q: want name=value pairs separated by commas", pair)
		}
		decoded, err := url.PathUnescape(value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		headers.Set(name, strings.TrimSpace(decoded))
	}
	return headers, nil
}

// otlpTLSConfig returns the TLS configuration of the CERTIFICATE,
// CLIENT_CERTIFICATE and CLIENT_KEY variables; nil when none is set.
func otlpTLSConfig() (*tls.Config, error) {
	var config tls.Config
	if variable, file, set := otlpEnv("CERTIFICATE"); set {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, envError(variable, err)
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, envError(variable, errors.New("no PEM certificate in the file"))
		}
	}
	certVariable, certFile, certSet := otlpEnv("CLIENT_CERTIFICATE")
	keyVariable, keyFile, keySet := otlpEnv("CLIENT_KEY")
	switch {
	case certSet && keySet:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("$%s, $%s: %w", certVariable, keyVariable, err)
		}
		config.Certificates = []tls.Certificate{cert}
	case certSet:
		return nil, envError(certVariable, fmt.Errorf("needs $%s too", keyVariable))
	case keySet:
		return nil, envError(keyVariable, fmt.Errorf("needs $%s too", certVariable))
	}
	if config.RootCAs == nil && config.Certificates == nil {
		return nil, nil
	}
	return &config, nil
}

// Start has nothing to do: a connection opens with the first export.
func (c *otlpHTTPClient) Start(ctx context.Context) error { return ctx.Err() }

// Stop cancels the exports in flight and their retries.
func (c *otlpHTTPClient) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stop) })
	return ctx.Err()
}

// UploadTraces posts spans in one ExportTraceServiceRequest, again after a
// wait while the receiver answers 429, 502, 503 or 504, as the OTLP
// specification asks; it gives up when ctx ends, the client stops or the
// retry policy's time is over. A receiver that accepts the request but
// rejects some spans (a partial success) makes it fail too, saying why.
func (c *otlpHTTPClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := exportTraceServiceRequest(spans)
	if err != nil {
		return err
	}
	if c.gzip {
		if body, err = gzipped(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	interval := c.retry.initial
	for {
		retryAfter, err := c.post(ctx, body)
		if retryAfter < 0 {
			return err
		}
		wait := retryAfter
		if wait == 0 {
			wait = time.Duration(float64(interval) * (0.5 + rand.Float64()))
			interval = min(interval*3/2, c.retry.max)
		}
		if time.Since(start)+wait > c.retry.maxElapsed {
			return fmt.Errorf("gave up after %s: %w", time.Since(start).Round(time.Millisecond), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", context.Cause(ctx), err)
		case <-time.After(wait):
		}
	}
}

// post sends one export request. retryAfter is negative when the attempt
// is final (err nil on success), else the wait the receiver asked for
// (zero when it named none) before trying again.
func (c *otlpHTTPClient) post(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	for name, values := range c.headers {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "ticketd OTLP/HTTP exporter")
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return -1, fmt.Errorf("OTLP receiver %s: reading its answer: %w", c.url, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if resp.Header.Get("Content-Type") != "application/x-protobuf" {
			return -1, nil
		}
		return -1, partialSuccessError(answer)
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		return parseRetryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("OTLP receiver %s: %s", c.url, resp.Status)
	default:
		return -1, fmt.Errorf("OTLP receiver %s: %s: %q", c.url, resp.Status, answer)
	}
}

// exportTraceServiceRequest encodes an ExportTraceServiceRequest of spans:
// its only field, 1, repeats a ResourceSpans.
func exportTraceServiceRequest(spans []*tracepb.ResourceSpans) ([]byte, error) {
	var b []byte
	for _, rs := range spans {
		encoded, err := proto.Marshal(rs)
		if err != nil {
			return nil, fmt.Errorf("encode spans: %w", err)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, encoded)
	}
	return b, nil
}

// partialSuccessError returns the rejection an ExportTraceServiceResponse
// reports in its partial_success (field 1: rejected_spans, field 1, and
// error_message, field 2); nil when it rejects nothing.
func partialSuccessError(response []byte) error {
	partial, ok := protoField(response, 1)
	if !ok {
		return nil
	}
	rejected, _ := protoField(partial, 1)
	message, _ := protoField(partial, 2)
	n, _ := protowire.ConsumeVarint(rejected)
	if n == 0 && len(message) == 0 {
		return nil
	}
	return fmt.Errorf("OTLP receiver rejected %d spans: %s", n, message)
}

// protoField returns the last value of the field numbered num in the
// protobuf message m: a varint's bytes or a length-delimited field's
// contents. It reports false when m has no such field or is malformed.
func protoField(m []byte, num protowire.Number) (value []byte, ok bool) {
	for len(m) > 0 {
		n, typ, length := protowire.ConsumeTag(m)
		if length < 0 {
			return nil, false
		}
		m = m[length:]
		length = protowire.ConsumeFieldValue(n, typ, m)
		if length < 0 {
			return nil, false
		}
		if n == num {
			value, ok = m[:length], true
			if typ == protowire.BytesType {
				value, _ = protowire.ConsumeBytes(value)
			}
		}
		m = m[length:]
	}
	return value, ok
}

// parseRetryAfter returns the wait a Retry-After header asks for, in
// seconds or until an HTTP date; zero when it names none.
func parseRetryAfter(value string) time.Duration {
	if seconds, err := strconv.ParseInt(value, 10, 32); err == nil && seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	if date, err := http.ParseTime(value); err == nil {
		return max(time.Until(date), 0)
	}
	return 0
}

// gzipped returns b compressed with gzip.
func gzipped(b []byte) ([]byte, error) {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// newOTLPHTTPExporter returns the span exporter of newOTLPHTTPClient.
func newOTLPHTTPExporter(ctx context.Context) (*otlptrace.Exporter, error) {
	client, err := newOTLPHTTPClient()
	if err != nil {
		return nil, err
	}
	return otlptrace.New(ctx, client)
}
