package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
)

// docFiles are the files whose examples run against one service, in the
// order a reader follows them.
var docFiles = []string{"README.md", "docs/api.md", "docs/operating.md", "docs/configuration.md",
	"docs/auditing.md", "docs/streams.md", "docs/dashboard.md"}

// readmeShellBlocks returns the ```sh blocks of docFiles that talk to a
// running service (those with curl), in order.
func readmeShellBlocks(t *testing.T) []string {
	t.Helper()
	var blocks []string
	for _, name := range docFiles {
		for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc(t, name), -1) {
			if strings.Contains(m[1], "curl ") {
				blocks = append(blocks, m[1])
			}
		}
	}
	return blocks
}

// TestReadmeExamplesRunAsWritten runs the README's curl examples, in order and
// in one shell, against a real service on each engine, with only the address
// substituted.
func TestReadmeExamplesRunAsWritten(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	blocks := readmeShellBlocks(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d curl examples in README.md", len(blocks))
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		svc := mustStart(t, cfg)
		script := "set -u\n" + strings.Join(blocks, "\necho\n") + "\necho\n"
		script = strings.ReplaceAll(script, "localhost:9000", svc.Addr())
		sh := exec.Command("bash", "-c", script)
		sh.Dir = t.TempDir() // for the files the examples write
		out, err := sh.CombinedOutput()
		if err != nil {
			t.Fatalf("README examples failed: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`(?m)^[0-9]+:[0-9a-f]{64}$`).Match(out) {
			t.Errorf("README example output lacks a saved head POSITION:HASH:\n%s", out)
		}
		heads := filepath.Join(sh.Dir, "heads.txt")
		if code, stdout, stderr := runCLI(t, "", "verify", "--db", cfg.DB, "--expect-head-file", heads); code != 0 {
			t.Errorf("verify --expect-head-file with the head the README saved: exit %d\n%s%s", code, stdout, stderr)
		}
		for _, want := range []string{
			`"count":2,"summary":{"theater_name":"CGV 강남","movie_title":"영화 제목","price_krw":15000}`,
			`"status":"issued","memo":null`,
			`"already_canceled":[],"not_found":["abc123"]}`,
			`"total":2,"limit":10,"offset":0}`,
			"position 4\n{\"id\":",
			`"detail":"Invalid: theater_name, price_krw, quantity."`,
			`"type":"TicketRefunded"`,
			`"next_after":2}`,
			`"version":2,"type":"TicketRefunded"`,
			`"status":"issued","memo":null,"issued_at"`,
			"\nid: 4\nevent: TicketRefunded\ndata: {\"position\":4,",
			`"status":415,"detail":"Send the body as Content-Type: application/json, without Content-Encoding."`,
			`"rows":[{"name":"CGV 강남","issued":3,"canceled":1,"revenue_krw":30000}],"total":1,"limit":10,"offset":0,"position":4}`,
			`"totals":{"issued":3,"canceled":1,"revenue_krw":30000},"position":4}`,
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("README example output lacks %s:\n%s", want, out)
			}
		}
		checkReadmeAuditorOutputs(t, svc)
	})
}

// checkReadmeAuditorOutputs runs the commands of the README's auditor
// section on the database the examples before it built, in order, and
// compares what they print with the outputs the README shows, up to ids,
// hashes, times and rates.
func checkReadmeAuditorOutputs(t *testing.T, svc *service.Service) {
	t.Helper()
	db := svc.Config().DB
	_, verified, _ := runCLI(t, "", "verify", "--db", db)
	compareReadmeOutput(t, "go run ./cmd/ticketd verify --db data/app.db\n", strings.ReplaceAll(verified, db, "data/app.db"))

	dir := t.TempDir()
	logFile, copyDB := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "copy.db")
	_, exported, _ := runCLI(t, "", "export", "--db", db)
	if err := os.WriteFile(logFile, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	_, csv, _ := runCLI(t, "", "export", "--db", db, "--format", "csv", "--type", "TicketRefunded", "--after", "0", "--until", "1000")
	_, imported, _ := runCLI(t, "", "import", "--db", copyDB, "--in", logFile)
	compareReadmeOutput(t, "go run ./cmd/ticketd import --db copy.db --in log.jsonl\n", csv+imported)

	// The ticket the auditor section follows is $ID, the one the examples refunded.
	c := newClient(t, svc)
	refunds := c.do("GET", "/events?type=TicketRefunded", nil)
	var page struct {
		Events []struct {
			Position int64  `json:"position"`
			StreamID string `json:"stream_id"`
		} `json:"events"`
	}
	if err := json.Unmarshal(refunds.body, &page); err != nil || len(page.Events) != 1 {
		t.Fatalf("GET /events?type=TicketRefunded: %v %s", err, refunds.body)
	}
	id, refund := page.Events[0].StreamID, page.Events[0].Position
	issue := refund - 1
	sentence := fmt.Sprintf("position %d is the issue of\n`$ID` and position %d its refund", issue, refund)
	if auditing := doc(t, "docs/auditing.md"); !strings.Contains(auditing, sentence) || !strings.Contains(auditing, fmt.Sprintf(`?as_of=%d"`, issue)) {
		t.Errorf("README's auditor section does not say %q and query as_of=%d", sentence, issue)
	}
	history := c.do("GET", "/tickets/"+id+"/events", nil).body
	atIssue := c.do("GET", fmt.Sprintf("/tickets/%s?as_of=%d", id, issue), nil).body
	now := c.do("GET", "/tickets/"+id+"?as_of="+url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), nil).body
	compareReadmeOutput(t, "curl -s \"http://localhost:9000/tickets/$ID?as_of=$(", string(history)+"\n"+string(atIssue)+"\n"+string(now)+"\n")
}

// readmeVariable matches what differs between runs: hashes (whole or cut
// short with "…"), UUIDs (or cut short), times, durations and rates.
var readmeVariable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[0-9a-f]{64}\b|\b[0-9a-f]{8}…`), "HASH"},
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-…`), "UUID"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`\bin \d+(\.\d+)?(ns|µs|ms|s)\b`), "in DURATION"},
	{regexp.MustCompile(`\(\d+ events/s\)`), "(RATE events/s)"},
}

func normalizeReadmeOutput(s string) string {
	for _, v := range readmeVariable {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return strings.TrimSpace(s)
}

// compareReadmeOutput compares got with the output block that follows the
// README's code block containing command.
func compareReadmeOutput(t *testing.T, command, got string) {
	t.Helper()
	readme := doc(t, "docs/auditing.md")
	i := strings.Index(readme, command)
	if i < 0 {
		t.Fatalf("README.md lacks %q", command)
	}
	m := regexp.MustCompile("(?s)\n```\n.*?```\\w*\n(.*?)```").FindStringSubmatch(readme[i:])
	if m == nil {
		t.Fatalf("README.md shows no output after %q", command)
	}
	if want, got := normalizeReadmeOutput(m[1]), normalizeReadmeOutput(got); want != got {
		t.Errorf("README's output after %q is\n%s\nbut the commands print\n%s", command, want, got)
	}
}
