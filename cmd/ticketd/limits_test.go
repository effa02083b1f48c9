package main

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestAuditVerifyRunsOneAtATimeOthersAre429WithRetryAfter(t *testing.T) {
	t.Parallel()
	svc := mustStart(t, testConfig(t.TempDir()))
	if err := seedStore(context.Background(), svc.store, defaultSeedPlan(20_000), func(int64) {}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, svc)
	const callers = 6
	var wg sync.WaitGroup
	statuses := make(chan response, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			statuses <- c.do("GET", "/audit/verify", nil)
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for r := range statuses {
		counts[r.status]++
		if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if counts[http.StatusOK] < 1 || counts[http.StatusTooManyRequests] < 1 || counts[http.StatusOK]+counts[http.StatusTooManyRequests] != callers {
		t.Fatalf("%d concurrent audits answered %v, want some 200 and the others 429", callers, counts)
	}
	if r := c.do("GET", "/audit/verify", nil); r.status != http.StatusOK {
		t.Fatalf("an audit after the others finished: %d", r.status)
	}
}

func TestStreamsPastMaxStreamsAre503WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.maxStreams = 2
	svc := mustStart(t, cfg)
	c := newClient(t, svc)
	first := openStream(t, svc, "")
	openStream(t, svc, "")
	r := c.do("GET", "/events/stream", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("a third stream with --max-streams 2: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	first.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := getStream(ctx, c.base+"/events/stream", nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one of two streams closed, a new one still gets %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
