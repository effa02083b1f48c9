package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// runningTail is a `ticketd tail` running in the test process.
type runningTail struct {
	t      *testing.T
	stdout *servicetest.SyncBuffer
	stderr *servicetest.SyncBuffer
	cancel context.CancelFunc
	code   chan int
}

// startTail runs `ticketd tail args...` until stop.
func startTail(t *testing.T, args ...string) *runningTail {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tail := &runningTail{t: t, stdout: &servicetest.SyncBuffer{}, stderr: &servicetest.SyncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() { tail.code <- run(ctx, append([]string{"tail"}, args...), nil, tail.stdout, tail.stderr) }()
	t.Cleanup(cancel)
	return tail
}

// waitLines waits until the tail printed want (and nothing else).
func (tail *runningTail) waitLines(want []string) {
	tail.t.Helper()
	wantOut := strings.Join(want, "\n") + "\n"
	if len(want) == 0 {
		wantOut = ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for tail.stdout.String() != wantOut {
		if time.Now().After(deadline) || len(tail.stdout.String()) > len(wantOut) {
			tail.t.Fatalf("tail printed:\n%s\nwant:\n%s\nstderr:\n%s", tail.stdout.String(), wantOut, tail.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop interrupts the tail as SIGINT does and requires exit status 0.
func (tail *runningTail) stop() {
	tail.t.Helper()
	tail.cancel()
	select {
	case code := <-tail.code:
		if code != 0 {
			tail.t.Fatalf("tail exited %d after an interrupt; stderr:\n%s", code, tail.stderr.String())
		}
	case <-time.After(10 * time.Second):
		tail.t.Fatal("tail did not stop within 10s of an interrupt")
	}
}

// readPosition returns the content of a position file ("" when missing).
func readPosition(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// strs converts raw JSON values to strings.
func strs[T ~[]byte](raw []T) []string {
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

func TestTailPrintsEventsAndResumesFromItsPositionFile(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	c := servicetest.NewClient(t, svc)
	base := "http://" + svc.Addr()
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1]})
	posFile := filepath.Join(t.TempDir(), "tail.position")

	tail := startTail(t, "--url", base, "--from", "start", "--position-file", posFile)
	tail.waitLines(strs(c.RawEvents()))
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))
	all := strs(c.RawEvents())
	tail.waitLines(all)
	servicetest.WaitUntil(t, "the position file says 5", func() bool { return readPosition(t, posFile) == "5" })
	tail.stop()

	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2))
	all = strs(c.RawEvents())
	tail = startTail(t, "--url", base, "--from", "start", "--position-file", posFile) // the file wins over --from
	tail.waitLines(all[5:])
	tail.stop()
	if got := readPosition(t, posFile); got != "7" {
		t.Fatalf("position file = %q, want 7", got)
	}

	refunds := startTail(t, "--url", base, "--from", "start", "--type", "TicketRefunded")
	refunds.waitLines(all[3:4])
	refunds.stop()
}

func TestTailFromNowReconnectsAcrossARestartWithoutLosingEvents(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	svc, err := service.Start(context.Background(), cfg, servicetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	servicetest.AppendIssued(t, svc, 3)
	cfg.Addr = svc.Addr()
	tail := startTail(t, "--url", "http://"+cfg.Addr, "--max-backoff", "100ms")
	first := servicetest.NewClient(t, svc)
	first.HTTP = &http.Client{Transport: &http.Transport{}} // no idle connection to the old service outlives it in the shared pool
	servicetest.WaitUntil(t, "the tail is connected", func() bool { return servicetest.MetricValue(first.Scrape(), "ticketd_sse_streams_open") == 1 })
	if err := svc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Events committed before the tail reconnects are not lost: it resumes
	// after the position the stream said it had read up to, not from now.
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	c.HTTP = &http.Client{Transport: &http.Transport{}} // the shared pool may hold an idle connection to an earlier listener on this port
	c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2))
	tail.waitLines(strs(c.RawEvents())[3:])
	tail.stop()
	if !strings.Contains(tail.stderr.String(), "reconnecting in") {
		t.Errorf("tail did not report its reconnection: %q", tail.stderr.String())
	}
}

func TestTailUsageAndPositionFileMistakes(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.position")
	if err := os.WriteFile(bad, []byte("twelve\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--type", "Bogus"}, 2, "--type"},
		{[]string{"--from", "later"}, 2, "--from"},
		{[]string{"--max-backoff", "0s"}, 2, "--max-backoff"},
		{[]string{"--nats-url", "nats://127.0.0.1:1", "--nats-subject-prefix", "a..b"}, 2, "--nats-subject-prefix"},
		{[]string{"--position-file", bad}, 1, "twelve"},
		{[]string{"--url", "localhost:9000"}, 2, `--url "localhost:9000": want the service's http:// or https:// URL`},
		{[]string{"--url", "ftp://localhost:9000"}, 2, "--url"},
		{[]string{"--url", "http://"}, 2, "--url"},
		{[]string{"--url", "http://127.0.0.1:1/", "--help"}, 0, "TICKETD_TAIL_POSITION_FILE"},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := run(ctx, append([]string{"tail"}, tt.args...), nil, &stdout, &stderr)
		cancel()
		if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.contains) {
			t.Errorf("ticketd tail %v: exit %d, want %d with %q in:\n%s%s", tt.args, code, tt.code, tt.contains, stdout.String(), stderr.String())
		}
		if code == 2 && strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("ticketd tail %v: stderr %q; want one line", tt.args, stderr.String())
		}
	}
}

func TestTailFollowsNATS(t *testing.T) {
	t.Parallel()
	svc, server := servicetest.StartNATSService(t)
	cfg := svc.Config()
	c := servicetest.NewClient(t, svc)
	ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[1:2]})
	posFile := filepath.Join(t.TempDir(), "tail.position")
	args := []string{"--nats-url", server, "--nats-subject-prefix", cfg.NATS.SubjectPrefix, "--from", "start", "--position-file", posFile}

	tail := startTail(t, args...)
	tail.waitLines(strs(c.RawEvents()))
	tail.stop()
	c.IssueOK(servicetest.SeedIssue)
	tail = startTail(t, args...)
	tail.waitLines(strs(c.RawEvents())[4:])
	c.IssueOK(servicetest.SeedIssue)
	tail.waitLines(strs(c.RawEvents())[4:])
	tail.stop()

	refunds := startTail(t, "--nats-url", server, "--nats-subject-prefix", cfg.NATS.SubjectPrefix, "--from", "start", "--type", "TicketRefunded")
	refunds.waitLines(strs(c.RawEvents())[3:4])
	refunds.stop()
}

func TestTailSendsItsAPIKey(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Access = servicetest.AccessConfig()
	svc := servicetest.Start(t, cfg)
	servicetest.AppendIssued(t, svc, 2)
	base := "http://" + svc.Addr()

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"tail", "--url", base, "--from", "start"}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "401") {
		t.Fatalf("tail without a key: exit %d, stderr %q; want 1 naming the 401", code, stderr.String())
	}
	tail := startTail(t, "--url", base, "--from", "start", "--api-key", servicetest.AnalystKey)
	servicetest.WaitUntil(t, "the tail printed both events", func() bool { return strings.Count(tail.stdout.String(), "\n") == 2 })
	tail.stop()
}
