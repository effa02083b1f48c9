package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ticketd/ticketd/internal/service"
)

// exportSpan is how long a time bench --export-events spreads its log over:
// a month, as a monthly load would find it (about 30 Parquet files).
const exportSpan = 30 * 24 * time.Hour

// exportReport is what `ticketd bench --export-events N` measured: the same
// log exported as JSON Lines (the baseline) and as Parquet, in one run.
type exportReport struct {
	Machine string `json:"machine"`
	Events  int64  `json:"events"`
	Span    string `json:"span"`
	// Runs are the best (fastest) of the rounds of each, JSON Lines first.
	Runs []exportRun `json:"runs"`
	// RateRatio is Parquet's events/s over JSON Lines'; SizeRatio
	// Parquet's bytes over JSON Lines'.
	RateRatio float64 `json:"parquet_rate_ratio"`
	SizeRatio float64 `json:"parquet_size_ratio"`
	// QuarterRSSMB is the peak RSS of a Parquet export of the log's first
	// quarter: memory that does not grow with the log stays near it.
	QuarterRSSMB float64 `json:"parquet_quarter_peak_rss_mb"`
}

// exportRun is one `ticketd export` process.
type exportRun struct {
	Format string `json:"format"`
	Events int64  `json:"events"`
	// Seconds is wall time, CPUSeconds its user and system time.
	Seconds      float64 `json:"seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	EventsPerSec float64 `json:"events_per_second"`
	Bytes        int64   `json:"bytes"`
	Files        int     `json:"files"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
}

// exportRounds is how many times each format is exported; the fastest counts.
const exportRounds = 2

// runExportBench seeds a SQLite log of about n events spread over
// exportSpan, exports it as JSON Lines and as Parquet, alternately,
// exportRounds times each, each export a child process, and reports the
// fastest of each, the ratios, and the peak RSS of a Parquet export of the
// first quarter of the log for the memory bound.
func (b *bench) runExportBench(ctx context.Context, n int64, stdout io.Writer) error {
	db := filepath.Join(b.dir, "export.db")
	tickets := (n*10 + 10) / 11 // with a refund every 10th ticket, n events
	var issued atomic.Int64
	store, _, err := service.OpenDatabase(ctx, db, service.DatabaseOptions{Now: spanClock(exportSpan, tickets, &issued)})
	if err != nil {
		return err
	}
	bar := newProgress(b.stderr, "bench: seed", "tickets", tickets)
	err = seedStore(ctx, store, defaultSeedPlan(tickets), func(done int64) {
		issued.Store(done)
		bar.update(done)
	})
	bar.done()
	events := store.Head()
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rep := &exportReport{Machine: machineSummary(), Events: events, Span: fmt.Sprintf("%d days", exportSpan/(24*time.Hour))}
	best := map[string]exportRun{}
	for round := range exportRounds {
		for _, format := range []string{"jsonl", "parquet"} {
			r, err := b.timeExport(ctx, db, format, fmt.Sprint(round), 0, events)
			if err != nil {
				return err
			}
			if old, ok := best[format]; !ok || r.Seconds < old.Seconds {
				best[format] = r
			}
		}
	}
	quarter, err := b.timeExport(ctx, db, "parquet", "quarter", events/4, events/4)
	if err != nil {
		return err
	}
	jsonl, pq := best["jsonl"], best["parquet"]
	rep.Runs = []exportRun{jsonl, pq}
	rep.RateRatio, rep.SizeRatio = pq.EventsPerSec/jsonl.EventsPerSec, float64(pq.Bytes)/float64(jsonl.Bytes)
	rep.QuarterRSSMB = quarter.PeakRSSMB
	return writeReport(stdout, b.cfg.asJSON, rep)
}

// timeExport runs `ticketd export` of db in format (up to position until,
// 0 for all: events in either case) into a new file or folder named after
// it and tag, and measures it.
func (b *bench) timeExport(ctx context.Context, db, format, tag string, until, events int64) (exportRun, error) {
	self, err := os.Executable()
	if err != nil {
		return exportRun{}, err
	}
	out := filepath.Join(b.dir, "export-"+format+"-"+tag)
	args := []string{"export", "--db", db, "--format", format, "--until", fmt.Sprint(until)}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = b.stderr
	if format == "parquet" {
		cmd.Args = append(cmd.Args, "--out", out)
	} else {
		f, err := os.Create(out)
		if err != nil {
			return exportRun{}, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	b.logf("export %s %s", format, tag)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return exportRun{}, err
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	took := time.Since(start)
	rss := peak()
	if err != nil {
		return exportRun{}, fmt.Errorf("%v: %w", args, err)
	}
	bytes, files, err := sizeOf(out)
	if err != nil {
		return exportRun{}, err
	}
	if format == "parquet" {
		files-- // manifest.json
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return exportRun{Format: format, Events: events, Seconds: took.Seconds(), CPUSeconds: cpu.Seconds(),
		EventsPerSec: float64(events) / took.Seconds(), Bytes: bytes, Files: files, PeakRSSMB: rss}, nil
}

// watchPeakRSS samples the peak RSS of process pid until the returned
// function is called, which returns the last sample, in MB.
func watchPeakRSS(pid int) func() float64 {
	var last atomic.Value
	last.Store(0.0)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if mb, err := peakRSS(pid); err == nil {
				last.Store(mb)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(done)
		<-stopped
		return last.Load().(float64)
	}
}

// sizeOf returns the bytes and the number of regular files at path, a file
// or a folder.
func sizeOf(path string) (int64, int, error) {
	var bytes int64
	files := 0
	err := filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		bytes += info.Size()
		files++
		return nil
	})
	return bytes, files, err
}

func (r *exportReport) print(w io.Writer) {
	fmt.Fprintf(w, "ticketd bench --export-events: %d events of a SQLite log spread over %s, on %s; the fastest of %d runs of each\n\n",
		r.Events, r.Span, r.Machine, exportRounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "format\tevents\tevents/s\twall s\tCPU s\tMB\tfiles\tpeak RSS MB\t")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%d\t%.1f\t\n", run.Format, run.Events, run.EventsPerSec, run.Seconds, run.CPUSeconds,
			float64(run.Bytes)/(1<<20), run.Files, run.PeakRSSMB)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nParquet / JSON Lines: %.2f× the events/s, %.3f× the bytes\n", r.RateRatio, r.SizeRatio)
	fmt.Fprintf(w, "Parquet peak RSS: %.1f MB for all %d events, %.1f MB for the first quarter\n", r.Runs[1].PeakRSSMB, r.Events, r.QuarterRSSMB)
}

// erred implements report: an export that failed failed the run already.
func (r *exportReport) erred() error { return nil }
