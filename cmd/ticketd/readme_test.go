package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// docFiles are the files whose examples the docs test runs, in the order a
// reader follows them. Each file's examples run in one shell of their own
// (a file sets up what its examples need), against one service per engine,
// except a file that starts a service itself: its examples talk to that one.
var docFiles = []string{"README.md", "docs/api.md", "docs/operating.md", "docs/configuration.md",
	"docs/auditing.md", "docs/streams.md", "docs/dashboard.md", "docs/box-office.md"}

// minCompared is, per file, how many documented outputs the docs test at
// least compares with what the examples print, so that an example whose
// output is no longer recognised fails the test instead of passing unseen.
var minCompared = map[string]int{
	"README.md": 6, "docs/api.md": 2, "docs/operating.md": 2, "docs/configuration.md": 2,
	"docs/auditing.md": 6, "docs/streams.md": 1, "docs/dashboard.md": 1, "docs/box-office.md": 6,
}

// The examples are written for a reader's machine; the docs test substitutes
// these for its own service, databases and PostgreSQL server.
const (
	docAddr      = "localhost:9000"
	docDB        = "data/app.db"
	docPGServer  = "postgres://postgres@127.0.0.1:5432/postgres"
	docPGCopy    = "postgres://postgres@127.0.0.1:5432/ticketd_copy"
	docPGCopyDDL = "'CREATE DATABASE ticketd_copy'"
)

// notRun, on the line before a fence, keeps the docs test from running an
// example that starts a service the test starts itself, or needs what a
// test cannot give (a terminal, Docker); the reason follows it.
const notRun = "<!-- not run by the docs test: "

// docFence is one fenced block of a Markdown file.
type docFence struct {
	line int    // of the opening fence, from 1
	info string // the info string: sh, json, ...
	text string // the content, the fence's indentation taken off
	// notRun is the reason given by a notRun comment before the fence.
	notRun string
	// headingBefore reports a heading between this fence and the one before.
	headingBefore bool
}

var fenceLine = regexp.MustCompile("^( *)```(\\S*)\\s*$")

// docFences returns the fenced blocks of a Markdown text, in order.
func docFences(text string) []docFence {
	var fences []docFence
	lines := strings.Split(text, "\n")
	heading, prev := false, ""
	for i := 0; i < len(lines); i++ {
		m := fenceLine.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.HasPrefix(lines[i], "#") {
				heading = true
			}
			if strings.TrimSpace(lines[i]) != "" {
				prev = lines[i]
			}
			continue
		}
		f := docFence{line: i + 1, info: m[2], headingBefore: heading}
		if reason, ok := strings.CutPrefix(strings.TrimSpace(prev), notRun); ok {
			f.notRun = strings.TrimSuffix(reason, " -->")
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], m[1]))
		}
		f.text = strings.Join(body, "\n") + "\n"
		fences = append(fences, f)
		heading, prev = false, ""
	}
	return fences
}

// docExample is a ```sh block the docs test runs, with the output the file
// shows after it, if any.
type docExample struct {
	file     string
	fence    docFence
	output   *docFence
	startsUp bool // it starts a service (go run ./cmd/ticketd with no command, or serve)
}

var (
	runsTicketd   = regexp.MustCompile(`(?m)go run \./cmd/ticketd\b`)
	startsTicketd = regexp.MustCompile(`(?m)go run \./cmd/ticketd( +(-|serve\b).*)?$`)
)

// docExamples returns the examples of file the docs test runs, and the
// fences that are the outputs of examples it does not run.
func docExamples(t *testing.T, file string) (examples []docExample, otherOutputs map[int]bool) {
	t.Helper()
	fences := docFences(servicetest.RepoFile(t, file))
	otherOutputs = map[int]bool{}
	for i, f := range fences {
		if f.info != "sh" || !strings.Contains(f.text, "curl ") && !runsTicketd.MatchString(f.text) {
			continue
		}
		var output *docFence
		if i+1 < len(fences) && !fences[i+1].headingBefore && (fences[i+1].info == "" || fences[i+1].info == "json") {
			output = &fences[i+1]
		}
		if f.notRun != "" {
			if output != nil {
				otherOutputs[output.line] = true
			}
			continue
		}
		examples = append(examples, docExample{file: file, fence: f, output: output, startsUp: startsTicketd.MatchString(f.text)})
	}
	return examples, otherOutputs
}

// TestDocsExamplesRunAsWritten runs the curl and ticketd examples of
// README.md and docs/, file after file in docFiles' order, each file in one
// shell of its own in an empty folder, against a real service on each
// engine; `go run ./cmd/ticketd` is the binary scripts/build.sh builds,
// and only addresses, databases and the PostgreSQL server are substituted.
// Every example must succeed and print what the file shows after it (up to
// ids, hashes, times, durations and what "…" leaves out; JSON by its
// fields), the log lines the files show must be lines the service logs,
// and no example may leave a file in the folder it runs in.
func TestDocsExamplesRunAsWritten(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		bin := parallelBinaryTest(t)
		var logs servicetest.SyncBuffer
		cfg := e.Config(t)
		svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Shutdown() })
		var serverLogs []string
		for _, file := range docFiles {
			serverLogs = append(serverLogs, runDocFile(t, e, bin, file, svc)...)
		}
		checkDocumentedLogLines(t, append(strings.Split(logs.String(), "\n"), serverLogs...))
		checkAuditingHistorySentence(t, svc)
	})
}

// runDocFile runs the examples of file in one shell and checks them; it
// returns the log lines of a service the file's examples started.
func runDocFile(t *testing.T, e servicetest.Engine, bin, file string, svc *service.Service) []string {
	t.Helper()
	examples, _ := docExamples(t, file)
	dir, tmp, logFile := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "server.log")
	subst := [][2]string{{docAddr, svc.Addr()}, {docDB, svc.Config().DB}}
	env := append(os.Environ(), "TICKETD_DOCS_BIN="+bin, "TICKETD_DOCS_SERVER_LOG="+logFile, "TMPDIR="+tmp)
	for _, ex := range examples {
		if ex.startsUp {
			// The file's examples talk to the service they start.
			addr := servicetest.FreeAddr(t)
			subst[0][1] = addr
			env = append(env, "TICKETD_ADDR="+addr, "TICKETD_DB="+e.Database(t, t.TempDir()), "TICKETD_LOG_FORMAT=text")
			break
		}
	}
	var script strings.Builder
	script.WriteString(docsShellPrelude)
	ran := 0
	for i, ex := range examples {
		code := ex.fence.text
		if strings.Contains(code, docPGServer) || strings.Contains(code, docPGCopy) {
			server := os.Getenv(pgtest.URLVar)
			if server == "" {
				t.Logf("%s:%d not run: it needs PostgreSQL (%s is not set)", file, ex.fence.line, pgtest.URLVar)
				examples[i].output = nil
				continue
			}
			copyURL, name := docPGCopyDatabase(t, server)
			subst = append(subst, [2]string{docPGCopy, copyURL}, [2]string{docPGServer, server}, [2]string{docPGCopyDDL, "'CREATE DATABASE " + name + "'"})
		}
		fmt.Fprintf(&script, "%s\n__docs_example_end %d $?\n", substitute(code, subst, false), i)
		ran++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir, sh.Env, sh.WaitDelay = dir, env, 10*time.Second
	out, err := sh.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("%s's examples did not end within 5 minutes (%v):\n%s", file, err, out)
	}
	outputs := splitDocOutputs(string(out))
	compared := 0
	for i, ex := range examples {
		if ex.fence.notRun != "" {
			continue
		}
		got, ok := outputs[i]
		where := fmt.Sprintf("%s:%d", file, ex.fence.line)
		if !ok {
			if ex.output != nil || strings.Contains(ex.fence.text, "curl ") {
				t.Errorf("%s did not run to its end:\n%s", where, out)
			}
			continue
		}
		if got.status != 0 && !(got.status == 28 && strings.Contains(ex.fence.text, "--max-time")) {
			t.Errorf("%s exited %d:\n%s\n%s", where, got.status, ex.fence.text, got.text)
			continue
		}
		if ex.output == nil {
			continue
		}
		compared++
		if err := matchDocOutput(ex.output.text, substitute(got.text, subst, true), e.Omits...); err != nil {
			t.Errorf("%s: the output shown at line %d does not match what the example prints: %v\nshown:\n%s\nprinted:\n%s",
				where, ex.output.line, err, ex.output.text, got.text)
		}
	}
	if compared < minCompared[file] {
		t.Errorf("%s: %d documented outputs compared (of %d examples run), want at least %d", file, compared, ran, minCompared[file])
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		var names []string
		for _, f := range left {
			names = append(names, f.Name())
		}
		t.Errorf("%s's examples left %q in the folder they ran in; write such files under a temporary folder", file, names)
	}
	b, _ := os.ReadFile(logFile)
	return strings.Split(string(b), "\n")
}

// docsShellPrelude makes `go run ./cmd/ticketd ARGS` run ticketd (the test
// binary, see TestMain): a command runs in the foreground; the service
// (no command, or serve) starts in the background, logging to
// $TICKETD_DOCS_SERVER_LOG, and the call prints its log and returns once it
// answers on $TICKETD_ADDR, as the terminal it runs in would show it; the
// shell stops it when it exits.
// __docs_example_end marks where each example's output ends.
const docsShellPrelude = `set -u
go() {
	if [ "${1:-} ${2:-}" != "run ./cmd/ticketd" ]; then command go "$@"; return; fi
	shift 2
	case "${1:-}" in
	""|-*|serve)
		"$TICKETD_DOCS_BIN" "$@" 2>>"$TICKETD_DOCS_SERVER_LOG" &
		for _ in $(seq 1 600); do
			curl -sf -o /dev/null "http://$TICKETD_ADDR/healthz" && cat "$TICKETD_DOCS_SERVER_LOG" && return 0
			sleep 0.05
		done
		echo "the service did not start:" >&2; cat "$TICKETD_DOCS_SERVER_LOG" >&2; return 1;;
	*) "$TICKETD_DOCS_BIN" "$@";;
	esac
}
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
__docs_example_end() { printf '\n@@docs example %d exited %d@@\n' "$1" "$2"; }
`

type docRunOutput struct {
	text   string
	status int
}

var exampleEnd = regexp.MustCompile(`\n@@docs example (\d+) exited (\d+)@@\n`)

// splitDocOutputs cuts the shell's output at the end markers, by example.
func splitDocOutputs(out string) map[int]docRunOutput {
	outputs := map[int]docRunOutput{}
	start := 0
	for _, m := range exampleEnd.FindAllStringSubmatchIndex(out, -1) {
		var i, status int
		fmt.Sscan(out[m[2]:m[3]], &i)
		fmt.Sscan(out[m[4]:m[5]], &status)
		outputs[i] = docRunOutput{text: out[start:m[0]], status: status}
		start = m[1]
	}
	return outputs
}

// substitute replaces each pair's documented value with the test's own in
// s, or, reversed, the test's with the documented one.
func substitute(s string, pairs [][2]string, reverse bool) string {
	for _, p := range pairs {
		from, to := p[0], p[1]
		if reverse {
			from, to = to, from
		}
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// docPGCopyDatabase names a database on server for the migration example
// to create in place of ticketd_copy, dropped when the test ends.
func docPGCopyDatabase(t *testing.T, server string) (string, string) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "ticketd_test_copy_" + hex.EncodeToString(b[:])
	t.Cleanup(func() { pgtest.Exec(t, server, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), name
}

// checkDocumentedLogLines checks every log line the docs show (a JSON
// object with time, level and msg in a fence that is not an example's
// output) against the lines the services logged while the examples ran:
// one with the same msg (and method and route, for a request) must have
// the same fields and values, up to what varies between runs.
func checkDocumentedLogLines(t *testing.T, logged []string) {
	t.Helper()
	var lines []map[string]any
	for _, l := range logged {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
		}
	}
	shown := 0
	for _, file := range append(docFiles, "docs/cluster.md", "docs/AUDIT.md") {
		examples, otherOutputs := docExamples(t, file)
		for _, ex := range examples {
			if ex.output != nil {
				otherOutputs[ex.output.line] = true
			}
		}
		for _, f := range docFences(servicetest.RepoFile(t, file)) {
			if otherOutputs[f.line] || f.info != "json" && f.info != "" {
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(f.text), "\n") {
				var want map[string]any
				dec := json.NewDecoder(strings.NewReader(line))
				dec.UseNumber()
				if dec.Decode(&want) != nil || want["time"] == nil || want["level"] == nil || want["msg"] == nil {
					continue
				}
				shown++
				if err := matchLoggedLine(line, want, lines); err != nil {
					t.Errorf("%s:%d shows a log line the service does not log: %s\n%v", file, f.line, line, err)
				}
			}
		}
	}
	if shown < 2 {
		t.Errorf("the docs show %d log lines; want at least the request line and the access control lines", shown)
	}
}

// matchLoggedLine compares the shown log line with the logged lines of
// the same msg (and method and route, for a request): one must match.
func matchLoggedLine(shown string, want map[string]any, logged []map[string]any) error {
	var first error
	for _, got := range logged {
		if got["msg"] != want["msg"] || got["method"] != want["method"] || got["route"] != want["route"] {
			continue
		}
		raw, err := json.Marshal(got)
		if err != nil {
			return err
		}
		if err := matchDocOutput(shown, string(raw)); err == nil {
			return nil
		} else if first == nil {
			first = fmt.Errorf("%v; logged: %s", err, raw)
		}
	}
	if first == nil {
		first = fmt.Errorf("no line with msg %q was logged", want["msg"])
	}
	return first
}

// checkAuditingHistorySentence checks that docs/auditing.md names the
// positions of the issue and the refund of the ticket its examples follow
// (the last ticket refunded when the auditing examples ran: the examples
// after them refund nothing) and queries as_of the issue.
func checkAuditingHistorySentence(t *testing.T, svc *service.Service) {
	t.Helper()
	c := servicetest.NewClient(t, svc)
	var page struct {
		Events []struct {
			Position int64  `json:"position"`
			StreamID string `json:"stream_id"`
		} `json:"events"`
	}
	refunds := c.Do("GET", "/events?type=TicketRefunded&limit=1000", nil)
	if err := json.Unmarshal(refunds.Body, &page); err != nil || len(page.Events) == 0 {
		t.Fatalf("GET /events?type=TicketRefunded: %v %s", err, refunds.Body)
	}
	refund := page.Events[len(page.Events)-1].Position
	issue := refund - 1
	sentence := fmt.Sprintf("position %d is the issue of\n`$ID` and position %d its refund", issue, refund)
	if auditing := servicetest.RepoFile(t, "docs/auditing.md"); !strings.Contains(auditing, sentence) || !strings.Contains(auditing, fmt.Sprintf(`?as_of=%d"`, issue)) {
		t.Errorf("docs/auditing.md does not say %q and query as_of=%d", sentence, issue)
	}
}

// docVariable matches what differs between runs: hashes (whole or cut
// short with "…"), UUIDs (or cut short), times, durations and rates.
var docVariable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[0-9a-f]{64}\b|\b[0-9a-f]{8}…`), "HASH"},
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{8}-(?:[0-9a-f]{4}-){0,3}…`), "UUID"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\bin \d+(\.\d+)?(ns|µs|ms|s)\b`), "in DURATION"},
	{regexp.MustCompile(`\(\d+ events/s\)`), "(RATE events/s)"},
}

func normalizeDocOutput(s string) string {
	for _, v := range docVariable {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// matchDocOutput reports how got, what an example printed, differs from
// shown, the output a file shows for it. A shown line "…" stands for any
// number of lines (or JSON values); elsewhere "…" stands for any text. When
// every other line of shown is JSON, got is read as a sequence of JSON
// values and each is compared by its fields: an object has exactly the
// shown keys unless it shows a key "…", an array exactly the shown
// elements unless its last one is "…", and a value equals the shown one up
// to ids, hashes and times, except values that vary between runs
// (docVolatile). A shown field whose path (such as "checks.disk") is in
// optional may be missing from what was printed.
func matchDocOutput(shown, got string, optional ...string) error {
	wantLines := strings.Split(strings.TrimSpace(shown), "\n")
	var want []any // JSON values, or nil for "…"
	isJSON := true
	for _, l := range wantLines {
		if strings.TrimSpace(l) == "…" {
			want = append(want, nil)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil || dec.More() {
			isJSON = false
			break
		}
		want = append(want, v)
	}
	if isJSON {
		var values []any
		dec := json.NewDecoder(strings.NewReader(got))
		dec.UseNumber()
		for {
			var v any
			if err := dec.Decode(&v); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("the example printed no JSON: %v", err)
			}
			values = append(values, v)
		}
		return matchSequence(len(want), len(values), func(i int) bool { return want[i] == nil },
			func(i, j int) error { return matchJSON(nil, want[i], values[j], optional) })
	}
	gotLines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if strings.TrimSpace(got) == "" {
		gotLines = nil
	}
	wild := func(i int) bool { return strings.TrimSpace(wantLines[i]) == "…" }
	return matchSequence(len(wantLines), len(gotLines), wild, func(i, j int) error {
		w := normalizeDocOutput(strings.TrimRight(wantLines[i], " "))
		pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*?") + "$"
		if g := normalizeDocOutput(strings.TrimRight(gotLines[j], " ")); !regexp.MustCompile(pattern).MatchString(g) {
			return fmt.Errorf("line %d shows\n\t%s\nbut the example printed\n\t%s", i+1, w, g)
		}
		return nil
	})
}

// matchSequence matches n shown items to m printed ones in order: wild
// reports a shown item that stands for any number of printed ones, match
// compares a shown item with a printed one. It returns the first mismatch.
func matchSequence(n, m int, wild func(i int) bool, match func(i, j int) error) error {
	var first error
	fail := func(err error) bool {
		if first == nil {
			first = err
		}
		return false
	}
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		switch {
		case i == n && j == m:
			return true
		case i == n:
			return fail(fmt.Errorf("the example printed %d more line(s) or value(s) than shown", m-j))
		case wild(i):
			for k := j; k <= m; k++ {
				if walk(i+1, k) {
					return true
				}
			}
			return false
		case j == m:
			return fail(fmt.Errorf("the example printed %d line(s) or value(s), fewer than shown", m))
		}
		if err := match(i, j); err != nil {
			return fail(err)
		}
		return walk(i+1, j+1)
	}
	if walk(0, 0) {
		return nil
	}
	return first
}

// matchJSON compares a printed JSON value with the shown one at path.
func matchJSON(path []string, want, got any, optional []string) error {
	at := "." + strings.Join(path, ".")
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: shown an object, printed %v", at, got)
		}
		_, open := w["…"]
		for k, v := range w {
			if k == "…" {
				continue
			}
			gv, ok := g[k]
			if !ok && slices.Contains(optional, strings.Join(append(path, k), ".")) {
				continue
			}
			if !ok {
				return fmt.Errorf("%s: shown field %q is not printed", at, k)
			}
			if docVolatile(append(path, k), w) {
				continue
			}
			if err := matchJSON(append(path, k), v, gv, optional); err != nil {
				return err
			}
		}
		if !open {
			for k := range g {
				if _, ok := w[k]; !ok {
					return fmt.Errorf("%s: printed field %q is not shown", at, k)
				}
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: shown an array, printed %v", at, got)
		}
		n := len(w)
		if n > 0 && w[n-1] == "…" {
			n--
			if len(g) < n {
				return fmt.Errorf("%s: shown at least %d elements, printed %d", at, n, len(g))
			}
		} else if len(g) != n {
			return fmt.Errorf("%s: shown %d elements, printed %d", at, n, len(g))
		}
		for i := range n {
			if err := matchJSON(append(path, fmt.Sprint(i)), w[i], g[i], optional); err != nil {
				return err
			}
		}
		return nil
	case string:
		g, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s: shown %q, printed %v", at, w, got)
		}
		pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(normalizeDocOutput(w)), "…", ".*?") + "$"
		if !regexp.MustCompile(pattern).MatchString(normalizeDocOutput(g)) {
			return fmt.Errorf("%s: shown %q, printed %q", at, w, g)
		}
		return nil
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Errorf("%s: shown %v, printed %v", at, want, got)
		}
		return nil
	}
}

// docVolatile reports whether the value at path, in the shown object
// parent, varies between runs, so that only its presence is compared: the
// free bytes of a filesystem, the lags and details of readiness checks, an
// instance's name (HOSTNAME-PID by default), per-minute counts (a run can
// cross a minute), and a log line's duration and client address.
func docVolatile(path []string, parent map[string]any) bool {
	key := path[len(path)-1]
	_, readiness := parent["checks"]
	switch {
	case key == "free_bytes", key == "duration_ms", key == "client_addr", key == "bytes":
		return true
	case len(path) >= 2 && path[0] == "checks" && (key == "detail" || key == "lag_events"):
		return true
	case readiness && len(path) == 1 && key == "detail":
		return true
	case readiness && len(path) == 1 && (key == "instance" || key == "instance_id"):
		return true
	case len(path) >= 2 && path[0] == "minutes" && (key == "issued" || key == "canceled"):
		return true
	}
	return false
}

// TestDocsOutputMatching checks matchDocOutput on outputs it must accept
// and refuse, so that the docs test cannot pass a wrong output unseen.
func TestDocsOutputMatching(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, shown, got string
		ok               bool
	}{
		{"same JSON", `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, true},
		{"field missing from the output", `{"a":1,"b":"x"}`, `{"a":1}`, false},
		{"field not shown", `{"a":1}`, `{"a":1,"hash":"x"}`, false},
		{"fields left out with …", `{"a":1,"…":"…"}`, `{"a":1,"hash":"x"}`, true},
		{"other value", `{"a":1}`, `{"a":2}`, false},
		{"ids and hashes", `{"id":"01a214a5-…","h":"c695e19e…"}`, `{"id":"01a214a5-1111-7000-8000-000000000000","h":"` + strings.Repeat("ab", 32) + `"}`, true},
		{"array cut short", `{"e":[1,"…"]}`, `{"e":[1,2,3]}`, true},
		{"array longer than shown", `{"e":[1]}`, `{"e":[1,2]}`, false},
		{"values one after the other", "{\"a\":1}\n{\"a\":2}", `{"a":1}{"a":2}`, true},
		{"a value too many", `{"a":1}`, `{"a":1}{"a":2}`, false},
		{"lines left out", "…\n{\"a\":2}", "{\"a\":1}\n{\"a\":2}", true},
		{"text", "verified data/app.db in 3ms\nOK", "verified data/app.db in 12.5ms\nOK", true},
		{"other text", "4 checked", "5 checked", false},
		{"text cut short", "id: 4\ndata: {\"position\":4,…}", "id: 4\ndata: {\"position\":4,\"id\":\"x\"}", true},
		{"nothing printed", "OK", "", false},
	} {
		if err := matchDocOutput(c.shown, c.got); (err == nil) != c.ok {
			t.Errorf("%s: matchDocOutput(%q, %q) = %v", c.name, c.shown, c.got, err)
		}
	}
}

// TestDocsExampleParsing checks which fences the docs test runs and which
// output it gives each.
func TestDocsExampleParsing(t *testing.T) {
	t.Parallel()
	text := "# A\n\n```sh\ncurl -s x\n```\n\nprints:\n\n```json\n{}\n```\n\n" +
		notRun + "starts a service -->\n```sh\ngo run ./cmd/ticketd\n```\n\n" +
		"```sh\ngo run ./cmd/ticketd --api-keys-file k\n```\n\n## B\n\n```\nnot its output\n```\n\n" +
		"  ```sh\n  go run ./cmd/ticketd verify --db d\n  ```\n\n  ```\n  verified\n  ```\n"
	fences := docFences(text)
	if len(fences) != 7 || fences[2].notRun != "starts a service" || fences[4].headingBefore != true || fences[5].text != "go run ./cmd/ticketd verify --db d\n" {
		t.Fatalf("fences: %+v", fences)
	}
	if !startsTicketd.MatchString(fences[3].text) || startsTicketd.MatchString(fences[5].text) || !startsTicketd.MatchString(fences[2].text) {
		t.Error("startsTicketd does not tell the service from a tool")
	}
}

// markdownFiles returns README.md and every Markdown file of docs/, as
// paths from the repository's root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"README.md"}
	for _, f := range files {
		names = append(names, strings.TrimPrefix(filepath.ToSlash(f), "../../"))
	}
	return names
}

// prose returns text without its fenced blocks and inline code, where
// links and references to issues are not read.
func prose(text string) string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if fenceLine.MatchString(line) {
			fenced = !fenced
			out = append(out, "")
			continue
		}
		if fenced {
			out = append(out, "")
			continue
		}
		out = append(out, regexp.MustCompile("`[^`]*`").ReplaceAllString(line, "``"))
	}
	return strings.Join(out, "\n")
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown text: lower case, letters, digits, spaces, hyphens and
// underscores kept, spaces turned into hyphens, "-1", "-2"... appended to
// repeats.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if fenceLine.MatchString(line) {
			fenced = !fenced
		}
		m := regexp.MustCompile(`^#{1,6} +(.*?) *#*$`).FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			seen[anchor]++
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		} else {
			seen[anchor] = 1
		}
		anchors[anchor] = true
	}
	return anchors
}

var markdownLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsLinksResolve checks that every relative link of README.md and
// docs/*.md names a file or folder of the repository and, with a #anchor,
// a heading of that file.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, file := range markdownFiles(t) {
		for _, m := range markdownLink.FindAllStringSubmatch(prose(servicetest.RepoFile(t, file)), -1) {
			target := m[1]
			if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(target) {
				continue // http:, https:, mailto:
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.ToSlash(filepath.Join(filepath.Dir(file), path))
			}
			if _, err := os.Stat("../../" + resolved); err != nil {
				t.Errorf("%s links to %s, which does not exist", file, target)
				continue
			}
			if anchor != "" && !headingAnchors(servicetest.RepoFile(t, resolved))[anchor] {
				t.Errorf("%s links to %s, but %s has no heading with the anchor #%s", file, target, resolved, anchor)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d relative links; the docs have more", checked)
	}
}

// issueReference matches "issue 17", "issues 14 and 17", "issue #3" and
// "the seed's example": words that name the project's own tracker, which
// no reader of the product has. "issue" followed by a figure is also the
// issue scenario of a benchmark ("issue 0.26×", "issue 7,143 req/s"), which
// namesIssue tells apart.
var issueReference = regexp.MustCompile(`(?i)\bissues? +#?(\d+)([^\s]*)( +\S+)?|\bthe seed's example\b|(^|[\s(])#\d+\b`)

// namesIssue returns the references to tracker issues in text.
func namesIssue(text string) []string {
	var found []string
	for _, m := range issueReference.FindAllStringSubmatch(text, -1) {
		after, next := m[2], strings.TrimSpace(m[3])
		measure := regexp.MustCompile(`^([.,]\d|×|k\b|%|–|-\d)`).MatchString(after) ||
			(after == "" && regexp.MustCompile(`^(req/s|/|×|–|ms|s|events?|tickets?|µs)\b|^[/×–]`).MatchString(next))
		if m[1] != "" && measure {
			continue
		}
		found = append(found, strings.TrimSpace(m[0]))
	}
	return found
}

// TestDocsAndHelpNameNoIssues checks that README.md, docs/ and the help of
// every command name no tracker issue.
func TestDocsAndHelpNameNoIssues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		want []string
	}{
		{"issue 17's targets", []string{"issue 17's targets"}},
		{"(issue 17, third step)", []string{"issue 17, third"}},
		{"Issue 17 run: 2026", []string{"Issue 17 run:"}},
		{"see #12 here", []string{"#12"}},
		{"Issue two tickets (the seed's example):", []string{"the seed's example"}},
		{"issue 0.26×, refund 0.12×", nil},
		{"issue 7,143 req/s", nil},
		{"issue 977 req/s (wrk)", nil},
		{"issue 1,345 / 2,399", nil},
		{"issue 7.5–7.7k req/s", nil},
		{"golang/go#75804", nil},
	} {
		if got := namesIssue(c.text); !slices.Equal(got, c.want) {
			t.Errorf("namesIssue(%q) = %q, want %q", c.text, got, c.want)
		}
	}
	texts := map[string]string{}
	for _, file := range markdownFiles(t) {
		texts[file] = servicetest.RepoFile(t, file)
	}
	_, usage, _ := runCLI(t, "", "help")
	texts["ticketd help"] = usage
	for name := range subcommands {
		_, stdout, stderr := runCLI(t, "", name, "--help")
		texts["ticketd "+name+" --help"] = stdout + stderr
	}
	for where, text := range texts {
		if found := namesIssue(text); len(found) > 0 {
			t.Errorf("%s names tracker issues, which its readers do not have: %q", where, found)
		}
	}
}

// TestDocsExampleFilesAreIgnored checks that git ignores the files the
// examples of the docs would write in the checkout (API keys, exports of
// every ticket), should a reader write them there instead of under a
// temporary folder as the examples do.
func TestDocsExampleFilesAreIgnored(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for _, name := range []string{"keys.txt", "log.jsonl", "heads.txt", "copy.db", "events.jsonl", "tail.pos", "docs/keys.txt"} {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", name)
		cmd.Dir = "../.."
		if err := cmd.Run(); err != nil {
			t.Errorf("git does not ignore %s: %v", name, err)
		}
	}
}
