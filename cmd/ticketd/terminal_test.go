package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections"
)

// hostileName is a theater name that, printed raw, would clear the
// operator's terminal, retitle it, recolour it (with ESC and with the C1
// CSI) and delete a character.
const hostileName = "\x1b[2J\x1b]0;owned\x07\u009b31mCGV\x7f"

// terminalControls returns the characters of out a terminal may act on,
// other than the newlines that end its lines, and whether out is UTF-8.
func terminalControls(out string) (found []string, validUTF8 bool) {
	for _, r := range strings.ReplaceAll(out, "\n", "") {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f {
			found = append(found, string(r))
		}
	}
	return found, utf8.ValidString(out)
}

// requireNoTerminalControls fails t when out holds a character a terminal
// may act on.
func requireNoTerminalControls(t *testing.T, what, out string) {
	t.Helper()
	if found, valid := terminalControls(out); len(found) > 0 || !valid {
		t.Errorf("%s prints terminal controls %q (valid UTF-8: %v):\n%q", what, found, valid, out)
	}
}

// TestTerminalOutputEscapesControlBytes stores a theater name full of
// terminal controls through the API and in the read table directly, then
// requires that tail, verify and an error line (naming a file whose name is
// not UTF-8) print them escaped, and that tail's lines and verify --json
// still decode to the stored values.
func TestTerminalOutputEscapesControlBytes(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		cfg := e.Config(t)
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "theater_name", hostileName, "memo", "\u009b2J\x1b[0m", "quantity", 1))

		tail := startTail(t, "--url", "http://"+svc.Addr(), "--from", "start")
		servicetest.WaitWithin(t, 30*time.Second, "the tail prints the event", func() bool { return strings.Contains(tail.stdout.String(), "\n") })
		tail.stop()
		printed := tail.stdout.String()
		requireNoTerminalControls(t, "tail", printed)
		var got, want any
		if err := json.Unmarshal([]byte(printed), &got); err != nil {
			t.Fatalf("tail's line is not JSON: %v\n%q", err, printed)
		}
		if err := json.Unmarshal(c.RawEvents()[0], &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("tail's line decodes to %v, GET /events to %v (%v)", got, want, err)
		}
		if err := svc.Shutdown(); err != nil {
			t.Fatal(err)
		}

		// The read table now disagrees with the log, so verify quotes both
		// names.
		servicetest.Tamper(t, cfg.DB, `UPDATE tickets SET theater_name = ? WHERE id = ?`, "\x1b[31mX\u0085", ids[0])
		code, out, _ := runCLI(t, "", "verify", "--db", cfg.DB)
		if code != 1 || !strings.Contains(out, `\x1b[2J\x1b]0;owned\x07\u009b31mCGV\x7f`) {
			t.Fatalf("verify of a tampered row: exit %d, the log's name not escaped:\n%s", code, out)
		}
		requireNoTerminalControls(t, "verify", out)
		code, out, _ = runCLI(t, "", "verify", "--db", cfg.DB, "--json")
		var rep projections.AuditReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || len(rep.List) != 1 || !strings.Contains(rep.List[0].Detail, hostileName) {
			t.Fatalf("verify --json no longer reports the stored name as it is: exit %d, %v\n%s", code, err, out)
		}

		code, _, stderr := runCLI(t, "", "verify", "--db", filepath.Join(t.TempDir(), "\x1b[31mmissing\xff.db"))
		if code == 0 || !strings.Contains(stderr, `\x1b[31mmissing\xff.db`) {
			t.Fatalf("verify of a missing file: exit %d, stderr %q", code, stderr)
		}
		requireNoTerminalControls(t, "an error line", stderr)
	})
}
