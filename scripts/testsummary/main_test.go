package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// scripts/test on the sample suite: go test's own lines, then the counts
// and the skips grouped by reason, and go test's exit status.
func TestScriptCountsSkipsByReasonAndExitsWithGoTestsStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test -race on a sample suite")
	}
	for _, tt := range []struct {
		fail string
		code int
		want []string
	}{
		{"0", 0, []string{"ok  \tgithub.com/ticketd/ticketd/scripts/testsummary/testdata/sample\t", "tests: 2 passed, 0 failed, 3 skipped\n"}},
		{"1", 1, []string{"sample_test.go:28: asked to fail\n", "FAIL\tgithub.com/ticketd/ticketd/scripts/testsummary/testdata/sample\t", "tests: 1 passed, 1 failed, 3 skipped\n"}},
	} {
		cmd := exec.Command("../test", "./scripts/testsummary/testdata/sample")
		cmd.Env = append(os.Environ(), "SAMPLE_FAIL="+tt.fail)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		want := append(tt.want, "     2 skipped: needs a service\n     1 skipped: a measurement: set SAMPLE_MEASURE=1 to run it\ntook ")
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("SAMPLE_FAIL=%s scripts/test: no %q in:\n%s", tt.fail, w, out)
			}
		}
		if code != tt.code || strings.Contains(string(out), "a line that is not a skip reason") {
			t.Errorf("SAMPLE_FAIL=%s scripts/test: exit %d, want %d, and no log of a passing test:\n%s", tt.fail, code, tt.code, out)
		}
	}
}
