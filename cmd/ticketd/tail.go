package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/termtext"
	"github.com/ticketd/ticketd/internal/tracing"
)

// tailConfig is what `ticketd tail` is configured with.
type tailConfig struct {
	url           string
	apiKey        string
	natsURL       string
	subjectPrefix string
	eventType     string
	from          string
	positionFile  string
	maxBackoff    time.Duration
}

func runTail(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg tailConfig
	cmd := newCommand("tail", "ticketd tail [flags]",
		"Follows the event log and prints each event as one JSON line (the JSON of GET /events)\n"+
			"to stdout: over Server-Sent Events from a running ticketd, or from NATS JetStream with\n"+
			"--nats-url. Reconnects with backoff; with --position-file it resumes after the last\n"+
			"event printed, so a restart neither skips nor repeats events (but for the last batch\n"+
			"of a crash: delivery is at least once, dedupe by position). SIGINT stops it (exit 0).", stderr)
	cmd.String(&cfg.url, "url", "TICKETD_TAIL_URL", "http://localhost:9000", "ticketd service to follow over Server-Sent Events")
	cmd.String(&cfg.apiKey, "api-key", "TICKETD_TAIL_API_KEY", "", "API key of the analyst role, when the service has access control on (prefer the environment variable: flags show in ps)")
	cmd.String(&cfg.natsURL, "nats-url", "TICKETD_TAIL_NATS_URL", "", "follow NATS JetStream at this URL instead of the service")
	cmd.String(&cfg.subjectPrefix, "nats-subject-prefix", "TICKETD_TAIL_NATS_SUBJECT_PREFIX", "ticketing.events", "NATS subject prefix the service publishes on (its --nats-subject-prefix)")
	cmd.String(&cfg.eventType, "type", "TICKETD_TAIL_TYPE", "", "print only events of this type: "+strings.Join(domain.EventTypes, " or "))
	cmd.String(&cfg.from, "from", "TICKETD_TAIL_FROM", "now", "where to start without a saved position: start (the first event) or now (new events only)")
	cmd.String(&cfg.positionFile, "position-file", "TICKETD_TAIL_POSITION_FILE", "", "file holding the position of the last event printed: read to resume, rewritten after every flushed batch")
	cmd.Duration(&cfg.maxBackoff, "max-backoff", "TICKETD_TAIL_MAX_BACKOFF", 5*time.Second, "longest wait between reconnection attempts")
	if err := cmd.parse(args); err != nil {
		return err
	}
	switch {
	case cfg.eventType != "" && !domain.IsEventType(cfg.eventType):
		return fmt.Errorf("%w: --type must be one of %s", errUsage, strings.Join(domain.EventTypes, ", "))
	case cfg.from != "start" && cfg.from != "now":
		return fmt.Errorf("%w: --from must be start or now", errUsage)
	case cfg.maxBackoff <= 0:
		return fmt.Errorf("%w: --max-backoff must be positive", errUsage)
	case cfg.natsURL == "" && !isServiceURL(cfg.url):
		return fmt.Errorf("%w: --url %q: want the service's http:// or https:// URL, e.g. http://localhost:9000", errUsage, cfg.url)
	}
	if cfg.natsURL != "" {
		if err := service.CheckSubjectPrefix(cfg.subjectPrefix); err != nil {
			return err
		}
	}
	traces, err := tracing.FromEnv(ctx, "ticketd-tail")
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer flushTraces(traces, slog.New(slog.NewTextHandler(stderr, nil)))
	out := &tailOutput{w: bufio.NewWriterSize(stdout, 64<<10), positionFile: cfg.positionFile, position: -1}
	if tracing.Enabled() {
		out.tracer = traces.Provider.Tracer("github.com/ticketd/ticketd/cmd/ticketd/tail")
	}
	if err := out.load(); err != nil {
		return err
	}
	if out.position < 0 && cfg.from == "start" {
		out.position = 0
	}
	var follow func(context.Context, *tailOutput) (bool, error)
	if cfg.natsURL != "" {
		follow = (&natsTail{cfg: cfg}).follow
	} else {
		follow = sseTail{cfg: cfg}.follow
	}
	return tailLoop(ctx, cfg.maxBackoff, out, follow, stderr)
}

// isServiceURL reports whether s is an absolute http or https URL with a
// host, the only form `tail` can follow over Server-Sent Events.
func isServiceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// tailFatal marks a failure that reconnecting cannot cure.
type tailFatal struct{ error }

func (e tailFatal) Unwrap() error { return e.error }

// tailLoop runs follow until ctx ends (nil) or it fails fatally (that
// error), reconnecting after other failures with exponential backoff that
// restarts once a connection was established.
func tailLoop(ctx context.Context, maxBackoff time.Duration, out *tailOutput, follow func(context.Context, *tailOutput) (bool, error), stderr io.Writer) error {
	backoff := time.Duration(0)
	for {
		connected, err := follow(ctx, out)
		if flushErr := out.flush(); flushErr != nil {
			return flushErr
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, new(tailFatal)):
			return err
		case connected:
			backoff = 0
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
		fmt.Fprintf(stderr, "ticketd tail: %s; reconnecting in %s\n", termtext.Escape(err.Error()), backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
	}
}

// tailOutput writes events as JSON lines and keeps the position file.
type tailOutput struct {
	w            *bufio.Writer
	positionFile string
	// position is the log position up to which every event the tail keeps
	// is printed; -1 until known when starting from now.
	position int64
	saved    int64
	// tracer, when set, records a span per printed event that continues
	// the trace of the request that appended it (its metadata's
	// traceparent).
	tracer trace.Tracer
}

// load reads the position file, when there is one. A missing file means no
// saved position; a malformed one is a fatal error.
func (o *tailOutput) load() error {
	if o.positionFile == "" {
		return nil
	}
	b, err := os.ReadFile(o.positionFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read position file: %w", err)
	}
	pos, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || pos < 0 {
		return fmt.Errorf("position file %s holds %q, not a position", o.positionFile, strings.TrimSpace(string(b)))
	}
	o.position, o.saved = pos, pos
	return nil
}

// event prints one event's JSON line, with terminal controls in its
// strings escaped (see termtext.JSON), and moves the position to it.
func (o *tailOutput) event(position int64, line []byte) error {
	if o.tracer != nil {
		defer o.startSpan(position, line).End()
	}
	o.w.Write(termtext.JSON(line)) // a bufio.Writer's error is sticky: WriteByte reports it
	if err := o.w.WriteByte('\n'); err != nil {
		return tailFatal{fmt.Errorf("write output: %w", err)}
	}
	o.position = position
	return nil
}

// startSpan starts the consumer span of the event at position whose JSON is
// line, a child of the trace context in its metadata.
func (o *tailOutput) startSpan(position int64, line []byte) trace.Span {
	var ev struct {
		Type     string              `json:"type"`
		Metadata eventstore.Metadata `json:"metadata"`
	}
	json.Unmarshal(line, &ev) // a line that is no event's JSON starts a span of a new trace
	ctx := tracing.ContextWithTraceparent(context.Background(), ev.Metadata.Traceparent, ev.Metadata.Tracestate)
	_, span := o.tracer.Start(ctx, "ticketd.tail "+ev.Type, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("ticketd.position", position)))
	return span
}

// advance moves the position to one the source says it has read up to.
func (o *tailOutput) advance(position int64) { o.position = max(o.position, position) }

// flush writes the printed lines out, then stores the position atomically
// (write, sync, rename) when it moved.
func (o *tailOutput) flush() error {
	if err := o.w.Flush(); err != nil {
		return tailFatal{fmt.Errorf("write output: %w", err)}
	}
	if o.positionFile == "" || o.position <= o.saved {
		return nil
	}
	if err := writeFileAtomic(o.positionFile, strconv.AppendInt(nil, o.position, 10)); err != nil {
		return tailFatal{fmt.Errorf("save position: %w", err)}
	}
	o.saved = o.position
	return nil
}

// writeFileAtomic replaces path with data and a newline, so a reader (or a
// crash) sees the old content or the new one, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
