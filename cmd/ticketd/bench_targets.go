package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// target is one of the performance goals docs/BENCHMARKS.md records, judged
// on one bench run.
type target struct {
	Name string `json:"name"`
	// Measured and Goal are ratios, except for a goal in milliseconds (Unit
	// "ms"), which is met at or below it; a ratio is met at or above it.
	Measured float64 `json:"measured"`
	Goal     float64 `json:"goal"`
	Unit     string  `json:"unit"`
	// Met is nil when the run could not measure the target (Note says why).
	Met  *bool  `json:"met"`
	Note string `json:"note,omitempty"`
}

func ratioTarget(name string, measured, goal float64) target {
	met := measured >= goal
	return target{Name: name, Measured: measured, Goal: goal, Unit: "×", Met: &met}
}

// targets judges rep against the performance goals.
func (r *benchReport) targets() []target {
	ratio := func(name string) float64 {
		for _, s := range r.Scenarios {
			if s.Name == name {
				return s.Ratio
			}
		}
		return 0
	}
	lagMet := r.Projection.P99MS <= 5
	ts := []target{
		ratioTarget("issue quantity 1 ≥ 0.5× bare POST", ratio("issue quantity 1"), 0.5),
		ratioTarget("refund ≥ 0.4× bare POST", ratio("refund 1 ticket"), 0.4),
		ratioTarget("GET by id ≥ 0.7× bare GET (cache misses included)", ratio("GET /tickets/{id}"), 0.7),
		ratioTarget("list with one filter ≥ 0.5× bare GET", ratio("GET /tickets?theater_name=…&limit=20"), 0.5),
		{Name: "projection lag p99 ≤ 5 ms (from the end of the commit)", Measured: r.Projection.P99MS, Goal: 5, Unit: "ms", Met: &lagMet},
		ratioTarget("replay ≥ 0.5× bare read of the log", r.ReplayRate/r.BareReadRate, 0.5),
	}
	pg := target{Name: "PostgreSQL issue ≥ 0.5× SQLite", Goal: 0.5, Unit: "×"}
	if r.SQLiteIssue != nil {
		pg = ratioTarget(pg.Name, r.SQLiteIssue.Ratio, 0.5)
	} else {
		pg.Note = "measured only with --db postgres://…"
	}
	return append(ts, pg)
}

func printTargets(w io.Writer, ts []target) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tverdict")
	for _, t := range ts {
		measured, verdict := "–", t.Note
		if t.Met != nil {
			measured = fmt.Sprintf("%.2f%s", t.Measured, t.Unit)
			verdict = map[bool]string{true: "PASS", false: "MISS"}[*t.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, measured, verdict)
	}
	tw.Flush()
}

// printMissNote explains, when a target was missed, what a target is, what
// moves it and what the exit status means.
func printMissNote(w io.Writer, ts []target, load float64) {
	missed := 0
	for _, t := range ts {
		if t.Met != nil && !*t.Met {
			missed++
		}
	}
	if missed == 0 {
		return
	}
	machine := fmt.Sprintf("%d cores", runtime.NumCPU())
	if load >= 0 {
		machine = fmt.Sprintf("load average %.1f on %d cores at the end of this run", load, runtime.NumCPU())
	}
	fmt.Fprintf(w, "\nMISS on %d of %d targets. A target compares the service with the bare Gin baseline,\n"+
		"run the same way on the same machine (or bounds a latency): how close the service comes\n"+
		"to the cost of HTTP alone, not a capacity. On a shared or loaded machine (%s)\n"+
		"the service and the baseline get different shares of the CPU, which moves the ratios:\n"+
		"compare runs on an idle machine before taking a MISS for a regression. The exit status\n"+
		"says whether the run was valid (0: no request failed), not whether targets were met.\n", missed, len(ts), machine)
}

// loadAverage is the machine's 1-minute load average, -1 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return -1
	}
	load, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return load
}

// bareReadChunk is how many events one read of the bare-read baseline takes.
const bareReadChunk = 50_000

// replayRates times a replay of db and, around it, twice a bare read of the
// same log (every event row read from storage and its data decoded, nothing
// written); it returns the events replayed, the replay's rate and the faster
// bare read's rate.
func replayRates(ctx context.Context, db string) (n int64, replay, bare float64, err error) {
	store, tables, err := service.OpenDatabase(ctx, db, service.DatabaseOptions{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer store.Close()
	for i := range 2 {
		start := time.Now()
		read, err := bareRead(ctx, store)
		if err != nil {
			return 0, 0, 0, err
		}
		bare = max(bare, float64(read)/time.Since(start).Seconds())
		if i == 0 {
			start = time.Now()
			if n, err = projections.Rebuild(ctx, store, tables, nil); err != nil {
				return 0, 0, 0, err
			}
			replay = float64(n) / time.Since(start).Seconds()
		}
	}
	return n, replay, bare, store.Close()
}

// bareRead reads every stored event and decodes its data, and returns how
// many it read.
func bareRead(ctx context.Context, log eventstore.Reader) (int64, error) {
	var n, after int64
	for {
		records, err := log.ReadStored(ctx, after, bareReadChunk)
		if err != nil || len(records) == 0 {
			return n, err
		}
		for _, rec := range records {
			if _, err := rec.Event(); err != nil {
				return n, fmt.Errorf("event %d: %w", rec.Position, err)
			}
		}
		n += int64(len(records))
		after = records[len(records)-1].Position
	}
}

// profileName is the file name of a scenario's CPU profile: its name's
// letters and digits, runs of anything else as one dash.
func profileName(scenario string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(scenario) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String() + ".pprof"
}

// cpuProfile saves a CPU profile of the service's debug listener at
// debugURL, taken over d, to path.
func cpuProfile(client *http.Client, debugURL string, d time.Duration, path string) error {
	resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", debugURL, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
