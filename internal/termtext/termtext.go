// Package termtext makes text from users and databases safe to print on an
// operator's terminal: a theater name holding an escape sequence must not
// recolour, move the cursor of or rewrite the terminal that shows it.
//
// The characters a terminal may act on are the C0 controls (U+0000–U+001F,
// ESC among them), DEL (U+007F), the C1 controls (U+0080–U+009F, CSI
// among them) and bytes that are not UTF-8, which some terminals read as
// 8-bit C1 controls. Everything else, other scripts included, is printed
// as it is.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r, decoded from size bytes, is a character a
// terminal may act on; r is utf8.RuneError with size 1 for a byte that is
// not UTF-8.
func unsafe(r rune, size int) bool {
	return r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f || r == utf8.RuneError && size == 1
}

// Escape returns s for a human-readable line: every C0 control (newline
// and tab too, so a value cannot start a line of its own), DEL and byte
// that is not UTF-8 written as \xHH, every C1 control as \u00HH. Other
// text, backslashes included, is unchanged, so s comes back as it is when
// it holds nothing to escape.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafe(r, size):
			b.WriteString(s[i : i+size])
		case r >= 0x80 && size == 2:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		}
		i += size
	}
	return b.String()
}

// JSON returns a line of JSON with the characters a terminal may act on
// replaced so that the line decodes to the same values: inside strings
// written as JSON escapes (\u001b, \u007f, \u009b; a byte that is not
// UTF-8 as \ufffd, the character JSON decoders give for it), outside them
// tab, newline and carriage return (JSON white space) as spaces. A line
// that is not valid JSON is made as safe, though it may then decode
// differently. line is returned unchanged, not copied, when it holds none
// of these characters.
func JSON(line []byte) []byte {
	if !needsEscape(string(line)) {
		return line
	}
	out := make([]byte, 0, len(line)+16)
	inString, escaped := false, false
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		switch {
		case !unsafe(r, size):
			out = append(out, line[i:i+size]...)
			switch {
			case escaped:
				escaped = false
			case inString && r == '\\':
				escaped = true
			case r == '"':
				inString = !inString
			}
		case !inString && (r == '\t' || r == '\n' || r == '\r'):
			out = append(out, ' ')
		case size == 1 && r == utf8.RuneError:
			out = append(out, `\ufffd`...)
			escaped = false
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
			escaped = false
		}
		i += size
	}
	return out
}

// needsEscape reports whether s holds a character a terminal may act on.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, size) {
			return true
		}
		i += size
	}
	return false
}
