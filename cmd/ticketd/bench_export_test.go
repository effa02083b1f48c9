package main

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// TestBenchExportModeMeasuresBothFormatsOfOneLog runs the export mode on a
// small log: JSON Lines then Parquet, of the same events, with their rates,
// sizes and peak RSS, the ratios of the two, and the first quarter's RSS.
func TestBenchExportModeMeasuresBothFormatsOfOneLog(t *testing.T) {
	bin := parallelBinaryTest(t)
	out, err := exec.Command(bin, "bench", "--export-events", "2200", "--json").Output()
	if err != nil {
		t.Fatalf("bench --export-events 2200: %v\n%s", err, out)
	}
	var rep exportReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Events != 2200 || len(rep.Runs) != 2 || rep.Runs[0].Format != "jsonl" || rep.Runs[1].Format != "parquet" {
		t.Fatalf("report of %d events, runs %+v", rep.Events, rep.Runs)
	}
	for _, r := range rep.Runs {
		if r.Events != 2200 || r.EventsPerSec <= 0 || r.Bytes <= 0 || r.Files < 1 || r.PeakRSSMB <= 0 || r.CPUSeconds <= 0 {
			t.Errorf("%s run: %+v", r.Format, r)
		}
	}
	if jsonl, pq := rep.Runs[0], rep.Runs[1]; jsonl.Files != 1 || pq.Files < 1 || rep.SizeRatio != float64(pq.Bytes)/float64(jsonl.Bytes) ||
		rep.RateRatio != pq.EventsPerSec/jsonl.EventsPerSec || rep.QuarterRSSMB <= 0 {
		t.Errorf("ratios %.3f (size) %.3f (rate), quarter RSS %.1f MB, of %+v and %+v", rep.SizeRatio, rep.RateRatio, rep.QuarterRSSMB, jsonl, pq)
	}
}

func TestBenchExportModeRunsAloneOnSQLite(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--export-events", "-1"},
		{"--export-events", "10", "--db", "postgres://127.0.0.1/x"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"bench"}, args...)...)
		if code != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, code)
		}
		assertOneLine(t, "bench", stderr, "--export-events")
	}
}
