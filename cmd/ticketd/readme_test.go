package main

import (
	"os"
	"os/exec"
	"path/filepath"
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
	cfg := testConfig(t.TempDir())
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
	if code, stdout, stderr := runCLI(t, "", "verify", "--db", cfg.dbPath, "--expect-head-file", heads); code != 0 {
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
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README example output lacks %s:\n%s", want, out)
		}
	}
}
