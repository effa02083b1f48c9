// Command testsummary reads `go test -json` on stdin and prints what a
// plain `go test` prints (each package's result, the output of failed tests
// and of packages that did not build), then how many tests passed, failed
// and skipped, the skips grouped by their reason. scripts/test runs it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// summary is what the stream said about the tests.
type summary struct {
	passed, failed int
	skips          map[string]int // reason → how many tests skipped for it
}

// testLog matches a line t.Log or t.Skip writes: indented "file.go:NN: ".
var testLog = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)

// summarize copies to w what a plain `go test` prints and returns the counts.
// A test's skip reason is the last line it logged (t.Skip's message).
func summarize(r io.Reader, w io.Writer) (summary, error) {
	s := summary{skips: map[string]int{}}
	outputs := map[string][]string{} // package/test → its output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not JSON: go's own message, e.g. a build failure
			continue
		}
		key := e.Package + "/" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && e.Test == "":
			if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "--- ") && e.Output != "PASS\n" {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			outputs[key] = append(outputs[key], e.Output)
		case e.Action == "pass" && e.Test != "":
			s.passed++
			delete(outputs, key)
		case e.Action == "fail" && e.Test != "":
			s.failed++
			fmt.Fprint(w, strings.Join(outputs[key], ""))
			delete(outputs, key)
		case e.Action == "skip" && e.Test != "":
			s.skips[skipReason(outputs[key])]++
			delete(outputs, key)
		}
	}
	return s, sc.Err()
}

// serviceLog matches the message of a line that a service under test
// logged through the test (log/slog's text or JSON form), as its cleanup
// may after t.Skip: never a skip reason.
var serviceLog = regexp.MustCompile(`^(time=\S+ level=|\{"time":)`)

// skipReason is the message of the last t.Skip or t.Log line in output that
// a service did not log.
func skipReason(output []string) string {
	for i := len(output) - 1; i >= 0; i-- {
		if m := testLog.FindStringSubmatch(strings.TrimRight(output[i], "\n")); m != nil && !serviceLog.MatchString(m[1]) {
			return m[1]
		}
	}
	return "no reason given"
}

// report writes the counts, the skips by reason, most first.
func (s summary) report(w io.Writer) {
	skipped := 0
	reasons := make([]string, 0, len(s.skips))
	for reason, n := range s.skips {
		skipped += n
		reasons = append(reasons, reason)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if s.skips[reasons[i]] != s.skips[reasons[j]] {
			return s.skips[reasons[i]] > s.skips[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, skipped)
	for _, reason := range reasons {
		fmt.Fprintf(w, "  %4d skipped: %s\n", s.skips[reason], reason)
	}
}

func main() {
	s, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	s.report(os.Stdout)
}
