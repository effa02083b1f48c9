// Package loadgen drives HTTP load with a fixed number of keep-alive clients
// for a fixed time and reports throughput and latency percentiles.
package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
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

// Run sends requests from cfg.Clients goroutines, each over its own
// keep-alive connection written and read directly (no pooling client, so the
// generator costs little CPU beside the server it measures), until
// cfg.Duration has passed or ctx ends; a client's first request is never
// cut off by cfg.Duration (only by ctx), so that a run against a slow or
// loaded service still measures every client at least once. Requests must
// all go to one host. A connection or protocol error, or a status cfg.OK
// rejects, is an error.
func Run(ctx context.Context, cfg Config, next NewRequest) Result {
	if cfg.OK == nil {
		cfg.OK = func(status int) bool { return status >= 200 && status < 300 }
	}
	outer := ctx
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
			c := &conn{}
			defer c.close()
			for first := true; first && outer.Err() == nil || ctx.Err() == nil; first = false {
				req, err := next(counter.Add(1) - 1)
				if err != nil {
					errs.Add(1)
					continue
				}
				t0 := time.Now()
				roundTripCtx := ctx
				if first {
					roundTripCtx = outer
				}
				status, err := c.roundTrip(roundTripCtx, req)
				if roundTripCtx.Err() != nil {
					return // cut off by the deadline: neither a sample nor an error
				}
				latencies[w] = append(latencies[w], time.Since(t0))
				if err != nil {
					c.close()
				}
				if err != nil || !cfg.OK(status) {
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

// conn is one load client's keep-alive connection; it dials on first use and
// again after close.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// roundTrip sends req and reads the whole response, dialing first when not
// connected, and returns the status code.
func (c *conn) roundTrip(ctx context.Context, req *http.Request) (int, error) {
	if c.nc == nil {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", req.URL.Host)
		if err != nil {
			return 0, err
		}
		*c = conn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 16<<10)}
	}
	if err := req.Write(c.bw); err != nil {
		return 0, err
	}
	if err := c.bw.Flush(); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}
