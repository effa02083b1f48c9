// Package loadgen drives HTTP load with a fixed number of keep-alive clients
// for a fixed time and reports throughput and latency percentiles.
package loadgen

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one load run measured.
type Result struct {
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Duration time.Duration `json:"duration_ns"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// NewRequest builds the i-th request of a run (i counts across all clients).
type NewRequest func(i int64) (*http.Request, error)

// Config describes one run.
type Config struct {
	Clients  int
	Duration time.Duration
	// OK reports whether a status counts as a success; default 2xx.
	OK func(status int) bool
	// Progress, when set, is called about once a second with the requests so far.
	Progress func(done int64, elapsed time.Duration)
}

// NewClient returns an HTTP client that keeps one idle connection per load client.
func NewClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        clients,
			MaxIdleConnsPerHost: clients,
			DisableCompression:  true,
		},
	}
}

// Run sends requests from cfg.Clients goroutines until cfg.Duration has
// passed or ctx ends. A transport error or a status cfg.OK rejects is an error.
func Run(ctx context.Context, client *http.Client, cfg Config, next NewRequest) Result {
	if cfg.OK == nil {
		cfg.OK = func(status int) bool { return status >= 200 && status < 300 }
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var counter, errs atomic.Int64
	latencies := make([][]time.Duration, cfg.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, err := next(counter.Add(1) - 1)
				if err != nil {
					errs.Add(1)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return // cut off by the deadline: neither a sample nor an error
				}
				latencies[w] = append(latencies[w], time.Since(t0))
				if err != nil || !cfg.OK(resp.StatusCode) {
					errs.Add(1)
				}
			}
		}()
	}
	if cfg.Progress != nil {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					cfg.Progress(counter.Load(), time.Since(start))
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(latencies...)
	slices.Sort(all)
	r := Result{Requests: int64(len(all)), Errors: errs.Load(), Duration: elapsed}
	if len(all) > 0 {
		r.RPS = float64(len(all)) / elapsed.Seconds()
		r.P50 = all[len(all)*50/100]
		r.P99 = all[len(all)*99/100]
		r.Max = all[len(all)-1]
	}
	return r
}
