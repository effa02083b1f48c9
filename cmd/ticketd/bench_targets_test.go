package main

import (
	"bytes"
	"encoding/json"
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
