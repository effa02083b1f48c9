package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/loadgen"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The measurements in this file run only when TICKETD_STREAM_BENCH=1 (the
// NATS one also needs TICKETD_TEST_NATS_URL); run them without -race:
//
//	TICKETD_STREAM_BENCH=1 TICKETD_TEST_NATS_URL=nats://127.0.0.1:4222 \
//	  go test -run 'TestMeasure' -v -count=1 -timeout 30m ./cmd/ticketd
//
// Optional: TICKETD_STREAM_BENCH_STREAMS (default 1000),
// TICKETD_STREAM_BENCH_CLIENTS (issue clients, default 16),
// TICKETD_STREAM_BENCH_RATE (issues per second; 0, the default, is as fast
// as the clients go) and TICKETD_STREAM_BENCH_DURATION (seconds per phase,
// default 10).

func requireStreamBench(t *testing.T) {
	t.Helper()
	if os.Getenv("TICKETD_STREAM_BENCH") != "1" {
		t.Skip("a measurement: set TICKETD_STREAM_BENCH=1 to run it")
	}
}

func benchSetting(t *testing.T, name string, def int64) int64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// countEvents reads an event stream, counting its events, until ctx ends.
func countEvents(ctx context.Context, base, query string, count *atomic.Int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events/stream"+query, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /events/stream%s: %s", query, resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if bytes.HasPrefix(line, []byte("id: ")) {
			count.Add(1)
		}
	}
}

func TestMeasureOneSSEConsumer(t *testing.T) {
	requireStreamBench(t)
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	const n = 200_000
	seedLogBatches(t, svc, n, 500)
	var got, gotLive atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go countEvents(ctx, "http://"+svc.Addr(), "?from=start", &got)
	servicetest.WaitWithin(t, 5*time.Minute, "the stream delivered the whole log", func() bool { return got.Load() == n })
	took := time.Since(start)
	t.Logf("SSE catch-up, one consumer: %d events in %s = %.0f events/s", n, took.Round(time.Millisecond), n/took.Seconds())

	// Live: a writer appends batches while the consumer follows.
	const live, batch = 100_000, 100
	go countEvents(ctx, "http://"+svc.Addr(), "?from=now", &gotLive)
	time.Sleep(200 * time.Millisecond)
	start = time.Now()
	seedLogBatches(t, svc, live, batch)
	servicetest.WaitWithin(t, 5*time.Minute, "the stream delivered the live events", func() bool { return gotLive.Load() == live })
	took = time.Since(start)
	t.Logf("SSE live, one consumer, appends of %d events: %d events in %s = %.0f events/s (bounded by the writer)", batch, live, took.Round(time.Millisecond), live/took.Seconds())
}

// seedLogBatches appends n TicketIssued events in appends of batch.
func seedLogBatches(t *testing.T, svc *service.Service, n, batch int) {
	t.Helper()
	for ; n > 0; n -= batch {
		servicetest.AppendIssued(t, svc, min(n, batch))
	}
}

func TestMeasureNATSRelay(t *testing.T) {
	requireStreamBench(t)
	server := servicetest.NATSURL(t)
	cfg := servicetest.Config(t.TempDir())
	const n = 50_000
	seedLog(t, cfg.DB, n)
	cfg.NATS = servicetest.NATSConfig(t, server)
	start := time.Now()
	svc := servicetest.Start(t, cfg)
	servicetest.NATSCaughtUp(t, svc, 10*time.Minute)
	took := time.Since(start)
	t.Logf("NATS relay backlog: %d events published to JetStream (acknowledged, one at a time) in %s = %.0f events/s", n, took.Round(time.Millisecond), n/took.Seconds())
}

// TestMeasureIssueLatencyWithOpenStreams runs a ticketd binary and measures
// POST /tickets/issue (quantity 1) from TICKETD_STREAM_BENCH_CLIENTS clients
// at TICKETD_STREAM_BENCH_RATE: alone, then with
// TICKETD_STREAM_BENCH_STREAMS event streams open that receive every event,
// then alone again.
func TestMeasureIssueLatencyWithOpenStreams(t *testing.T) {
	requireStreamBench(t)
	streams := benchSetting(t, "TICKETD_STREAM_BENCH_STREAMS", 1000)
	clients := benchSetting(t, "TICKETD_STREAM_BENCH_CLIENTS", 16)
	rate := benchSetting(t, "TICKETD_STREAM_BENCH_RATE", 0)
	duration := time.Duration(benchSetting(t, "TICKETD_STREAM_BENCH_DURATION", 10)) * time.Second
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := servicetest.FreeAddr(t)
	base := "http://" + addr
	server := exec.Command(bin, "serve", "--addr", addr, "--db", filepath.Join(t.TempDir(), "app.db"), "--log-level", "error")
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Signal(os.Interrupt)
		server.Wait()
	}()
	waitReady(t, base)

	issue := func(phase string) loadgen.Result {
		next := postIssue(base, 1)
		if rate > 0 {
			next = paced(rate, next)
		}
		serverCPU, selfCPU := processCPU(t, server.Process.Pid), processCPU(t, os.Getpid())
		r := loadgen.Run(context.Background(), loadgen.Config{Clients: int(clients), Duration: duration}, next)
		serverCPU, selfCPU = processCPU(t, server.Process.Pid)-serverCPU, processCPU(t, os.Getpid())-selfCPU
		t.Logf("%-28s %6.0f issues/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  CPU: server %.0f%%, clients %.0f%%", phase, r.RPS,
			float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, r.Errors,
			100*serverCPU.Seconds()/r.Duration.Seconds(), 100*selfCPU.Seconds()/r.Duration.Seconds())
		return r
	}
	issue("warm-up")
	before := issue("no streams")

	readers := exec.Command(os.Args[0], "-test.run=^TestStreamReaders$", "-test.v")
	readers.Env = append(os.Environ(), "TICKETD_STREAM_READERS_URL="+base, fmt.Sprint("TICKETD_STREAM_READERS=", streams))
	var readersOut bytes.Buffer
	readers.Stdout, readers.Stderr = &readersOut, os.Stderr
	if err := readers.Start(); err != nil {
		t.Fatal(err)
	}
	servicetest.WaitWithin(t, time.Minute, fmt.Sprintf("%d streams are open", streams), func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == fmt.Sprintf("ticketd_sse_streams_open %d", streams) {
				return true
			}
		}
		return false
	})
	readersCPU := processCPU(t, readers.Process.Pid)
	with := issue(fmt.Sprintf("%d streams open", streams))
	readersCPU = processCPU(t, readers.Process.Pid) - readersCPU
	time.Sleep(2 * time.Second) // the streams take the last events
	readers.Process.Signal(os.Interrupt)
	if err := readers.Wait(); err != nil {
		t.Fatalf("stream readers: %v\n%s", err, readersOut.String())
	}
	var lo, hi, failed int64
	if _, err := fmt.Sscanf(readersOut.String()[strings.Index(readersOut.String(), "received "):], "received %d..%d failed %d", &lo, &hi, &failed); err != nil {
		t.Fatalf("stream readers said %q: %v", readersOut.String(), err)
	}
	after := issue("no streams again")
	t.Logf("stream readers (another process) used %.0f%% CPU", 100*readersCPU.Seconds()/with.Duration.Seconds())
	t.Logf("each stream received between %d and %d events (%d issued while they were open); %d streams failed", lo, hi, with.Requests, failed)
	ref := (before.P50 + after.P50) / 2
	ref99 := (before.P99 + after.P99) / 2
	t.Logf("issue latency with %d streams: p50 %+.1f%%, p99 %+.1f%%, throughput %+.1f%% (against the mean of both runs without)",
		streams, 100*(float64(with.P50)/float64(ref)-1), 100*(float64(with.P99)/float64(ref99)-1), 100*(with.RPS/((before.RPS+after.RPS)/2)-1))
}

// TestStreamReaders is the helper process of
// TestMeasureIssueLatencyWithOpenStreams: with TICKETD_STREAM_READERS_URL
// set, it follows TICKETD_STREAM_READERS event streams from now until
// interrupted, then prints "received MIN..MAX failed N": the fewest and
// most events one stream received and how many streams failed.
func TestStreamReaders(t *testing.T) {
	base := os.Getenv("TICKETD_STREAM_READERS_URL")
	if base == "" {
		t.Skip("the helper process of TestMeasureIssueLatencyWithOpenStreams")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	counts := make([]atomic.Int64, benchSetting(t, "TICKETD_STREAM_READERS", 1000))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := countEvents(ctx, base, "?from=now", &counts[i]); err != nil && ctx.Err() == nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	lo, hi := counts[0].Load(), counts[0].Load()
	for i := range counts {
		lo, hi = min(lo, counts[i].Load()), max(hi, counts[i].Load())
	}
	fmt.Printf("received %d..%d failed %d\n", lo, hi, failed.Load())
}

// paced returns next, holding the i-th request back until i/rate seconds
// after the first; the load generator times a request from its return.
func paced(rate int64, next loadgen.NewRequest) loadgen.NewRequest {
	start := time.Now()
	return func(i int64) (*http.Request, error) {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		return next(i)
	}
}

// processCPU returns the user and system CPU time process pid has used
// (Linux /proc; 0 elsewhere).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
