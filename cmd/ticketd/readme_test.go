package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readmeShellBlocks returns the ```sh blocks of README.md that talk to a
// running service (those with curl), in order.
func readmeShellBlocks(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "curl ") {
			blocks = append(blocks, m[1])
		}
	}
	return blocks
}

// TestReadmeExamplesRunAsWritten runs the README's curl examples, in order and
// in one shell, against a real service, with only the address substituted.
func TestReadmeExamplesRunAsWritten(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	blocks := readmeShellBlocks(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d curl examples in README.md", len(blocks))
	}
	svc := mustStart(t, testConfig(t.TempDir()))
	script := "set -u\n" + strings.Join(blocks, "\necho\n") + "\necho\n"
	script = strings.ReplaceAll(script, "localhost:9000", svc.Addr())
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("README examples failed: %v\n%s", err, out)
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
		`"rows":[{"name":"CGV 강남","issued":3,"canceled":1,"revenue_krw":30000}],"total":1,"limit":10,"offset":0,"position":4}`,
		`"totals":{"issued":3,"canceled":1,"revenue_krw":30000},"position":4}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README example output lacks %s:\n%s", want, out)
		}
	}
}
