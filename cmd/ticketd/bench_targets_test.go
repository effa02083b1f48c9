package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBenchJSON runs the built binary's bench with args plus --json and
// returns its report.
func runBenchJSON(t *testing.T, bin string, args ...string) benchReport {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"bench", "--json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var rep benchReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("bench --json printed no report: %v\n%s", err, out)
	}
	return rep
}

func TestBenchJudgesEveryTargetAndProfilesTheServicesScenarios(t *testing.T) {
	bin := parallelBinaryTest(t)
	profiles := t.TempDir()
	rep := runBenchJSON(t, bin, "--clients", "2", "--duration", "1500ms", "--seed-tickets", "30", "--cpu-profiles", profiles)
	if rep.ReplayCount < 30 || rep.ReplayRate <= 0 || rep.BareReadRate <= 0 {
		t.Fatalf("replay %d events at %.0f/s, bare read %.0f/s; want both rates of the run's log", rep.ReplayCount, rep.ReplayRate, rep.BareReadRate)
	}
	if !strings.Contains(rep.LagClock, "end of each event's commit") {
		t.Fatalf("projection_lag_clock = %q, want it to say the lag counts from the end of the commit", rep.LagClock)
	}
	if len(rep.Targets) != 7 {
		t.Fatalf("%d targets, want issue 17's 7: %+v", len(rep.Targets), rep.Targets)
	}
	for _, tg := range rep.Targets {
		pg := strings.HasPrefix(tg.Name, "PostgreSQL")
		if pg != (tg.Met == nil) || (tg.Met != nil && tg.Measured <= 0) {
			t.Errorf("target %+v: want a positive measure and a verdict on SQLite, except the PostgreSQL one", tg)
		}
		if tg.Met != nil && *tg.Met != (tg.Unit == "ms" && tg.Measured <= tg.Goal || tg.Unit == "×" && tg.Measured >= tg.Goal) {
			t.Errorf("target %+v: verdict disagrees with measure and goal", tg)
		}
	}
	for _, name := range []string{"issue-quantity-1", "refund-1-ticket", "get-tickets-id", "get-tickets-theater-name-limit-20"} {
		profile := filepath.Join(profiles, name+".pprof")
		data, err := os.ReadFile(profile)
		if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Errorf("CPU profile %s: %d bytes, %v; want a gzipped pprof profile", profile, len(data), err)
		}
	}
	if _, err := os.Stat(filepath.Join(profiles, "baseline-post-tickets-issue.pprof")); err == nil {
		t.Error("a CPU profile of the baseline, which is not the service")
	}
}

// A run that missed a target explains the MISS (what a target compares,
// that a loaded machine moves it) and still exits 0: the exit status is
// the run's validity, which failed requests take away.
func TestBenchExplainsAMissAndExitsWithTheRunsValidity(t *testing.T) {
	t.Parallel()
	rep := &benchReport{Scenarios: []scenarioResult{{Name: "issue quantity 1", Ratio: 0.2}}, LoadAverage: 7.5}
	rep.Targets = rep.targets()
	var out bytes.Buffer
	if err := writeReport(&out, false, rep); err != nil {
		t.Errorf("a valid run that missed targets: %v; want exit 0", err)
	}
	for _, want := range []string{"MISS on 5 of 7 targets. A target compares the service with the bare Gin baseline", "(load average 7.5 on ",
		"The exit status\nsays whether the run was valid (0: no request failed), not whether targets were met."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	rep.Scenarios[0].Result.Errors = 3
	if err := writeReport(io.Discard, false, rep); err == nil || !strings.Contains(err.Error(), "issue quantity 1 (3 errors)") {
		t.Errorf("a run with failed requests: %v; want an error naming the scenario", err)
	}
	out.Reset()
	printMissNote(&out, []target{ratioTarget("met", 1, 0.5)}, 0.1)
	if out.Len() != 0 {
		t.Errorf("a run that met every target explains a MISS: %q", out.String())
	}
}
