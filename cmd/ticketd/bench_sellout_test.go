package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/pgtest"
)

// TestBenchSelloutSellsExactlyTheCapacity runs the sellout mode small on
// SQLite, on PostgreSQL and on a cluster of two: every deployment sells
// exactly the capacity (by its answers and by the showing), verify passes,
// and the rates, ratios and 409s are measured.
func TestBenchSelloutSellsExactlyTheCapacity(t *testing.T) {
	bin := parallelBinaryTest(t)
	server := pgtest.ServerURL(t)
	for _, args := range [][]string{
		{},
		{"--db", server},
		{"--db", server, "--cluster-instances", "2"},
	} {
		cmd := exec.Command(bin, append([]string{"bench", "--sellout-capacity", "600", "--clients", "12", "--duration", "300ms", "--json"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bench --sellout-capacity 600 %q: %v\n%s", args, err, out)
		}
		var rep selloutReport
		if err := json.Unmarshal(out, &rep); err != nil || len(rep.Rows) != 1 {
			t.Fatalf("report: %v\n%s", err, out)
		}
		row := rep.Rows[0]
		if row.Sold != 600 || row.ShowingSold != 600 || !row.Verified || row.Errors != 0 {
			t.Errorf("%q: sold %d by the answers, %d by the showing, verified %v, %d errors; want 600, 600, true, 0", args, row.Sold, row.ShowingSold, row.Verified, row.Errors)
		}
		if row.Sales < 150 || row.Conflicts < 12 || row.Issue.Requests == 0 || row.Ratio <= 0 || row.SeatsRatio <= row.Ratio || row.P99 < row.P50 || row.P50 <= 0 {
			t.Errorf("%q measured nothing sensible: %+v", args, row)
		}
	}
}

func TestBenchSelloutCapacityIsCheckedInOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--sellout-capacity", "-1"},
		{"--sellout-capacity", "100001"},
		{"--sellout-capacity", "10", "--export-events", "100"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"bench"}, args...)...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "sellout-capacity") {
			t.Errorf("bench %q: exit %d, stderr %q; want 2 and one line naming --sellout-capacity", args, code, stderr)
		}
	}
}
