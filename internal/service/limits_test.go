package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestStreamsPastMaxStreamsAre503WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.MaxStreams = 2
	svc := servicetest.Start(t, cfg)
	c := servicetest.NewClient(t, svc)
	first := servicetest.OpenStream(t, svc, "")
	servicetest.OpenStream(t, svc, "")
	r := c.Do("GET", "/events/stream", nil)
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream with --max-streams 2: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := servicetest.GetStream(ctx, c.Base+"/events/stream", nil)
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
