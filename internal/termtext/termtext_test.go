package termtext_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/ticketd/ticketd/internal/termtext"
)

// terminalBytes lists every byte sequence a terminal may act on, as the
// escapes must hide them: C0 controls, DEL, C1 controls in UTF-8 and bytes
// that are not UTF-8.
var terminalBytes = []string{"\x00", "\x07", "\x08", "\t", "\n", "\r", "\x1b", "\x7f", "\u0080", "\u009b", "\u009f", "\x9b", "\xff", "\xc3"}

// holdsTerminalBytes reports which of terminalBytes s holds.
func holdsTerminalBytes(s string) []string {
	var found []string
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b < 0x20 || b == 0x7f:
			found = append(found, s[i:i+1])
		case b == 0xc2 && i+1 < len(s) && s[i+1] <= 0x9f:
			found = append(found, s[i:i+2])
		}
	}
	if !utf8.ValidString(s) {
		found = append(found, "invalid UTF-8")
	}
	return found
}

func TestEscapeHidesEveryTerminalControlAndKeepsOtherText(t *testing.T) {
	for in, want := range map[string]string{
		"CGV 강남":                   "CGV 강남",
		`C:\path "quoted" ü ✓`:     `C:\path "quoted" ü ✓`,
		"\x1b[31mred\x1b[0m":       `\x1b[31mred\x1b[0m`,
		"a\x7fb":                   `a\x7fb`,
		"\u009b31m":                `\u009b31m`,
		"line\nforged\rline\ttab":  `line\x0aforged\x0dline\x09tab`,
		"bad \xff\xc3 bytes":       `bad \xff\xc3 bytes`,
		"\x9b2J lone C1 byte":      `\x9b2J lone C1 byte`,
		"NUL\x00 and BEL\x07":      `NUL\x00 and BEL\x07`,
		"\u0080\u009f edges of C1": `\u0080\u009f edges of C1`,
		"\u00a0 after C1 is fine":  "\u00a0 after C1 is fine",
	} {
		got := termtext.Escape(in)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if found := holdsTerminalBytes(got); len(found) > 0 {
			t.Errorf("Escape(%q) still holds %q", in, found)
		}
	}
}

func TestJSONEscapesInsideStringsAndDecodesToTheSameValues(t *testing.T) {
	value := map[string]any{
		"theater_name": "\x1b]0;owned\x07\u009b2J\x7f",
		"memo":         "tab\tnew\nline \\ \"quote\" 강남",
		"n":            1.5,
	}
	line, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	got := termtext.JSON(line)
	if found := holdsTerminalBytes(string(got)); len(found) > 0 {
		t.Fatalf("JSON(%s) = %s still holds %q", line, got, found)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, value) {
		t.Fatalf("JSON(%s) = %s decodes to %v (%v), want %v", line, got, back, err, value)
	}

	pretty := []byte("{\"a\":\t\"x\x7f\",\r\n\"b\":\"\xff\"}")
	got = termtext.JSON(pretty)
	if found := holdsTerminalBytes(string(got)); len(found) > 0 {
		t.Fatalf("JSON(%q) = %q still holds %q", pretty, got, found)
	}
	if err := json.Unmarshal(got, &back); err != nil || back["a"] != "x\x7f" || back["b"] != "\uFFFD" {
		t.Fatalf("JSON(%q) = %q decodes to %v, %v", pretty, got, back, err)
	}

	plain := []byte(`{"theater_name":"CGV 강남"}`)
	if got := termtext.JSON(plain); &got[0] != &plain[0] {
		t.Errorf("a safe line was copied")
	}
}
