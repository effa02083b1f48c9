package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ticketd/ticketd/domain"
)

// jsonObject is a request body split into its top-level members, each kept
// raw so every member's type can be checked and reported separately.
type jsonObject map[string]json.RawMessage

// decodeObject parses body as one JSON object. A body that is not exactly
// one well-formed JSON object, or that has a member name that is not valid
// UTF-8, is a violation naming "body" and gives nil. A key given twice and a
// member whose value is not valid UTF-8 are violations naming that key; the
// object is still returned, so every other field is checked as well.
func decodeObject(body []byte, v *domain.Violations) jsonObject {
	invalidBody := func(msg string) jsonObject {
		v.Add("body", msg)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return invalidBody("must be a JSON object")
	}
	obj := jsonObject{}
	var members domain.Violations // reported only once the body is known to be one object
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return invalidBody("must be well-formed JSON: " + syntaxMessage(err))
		}
		// The decoder replaces invalid UTF-8 in what it decodes with U+FFFD,
		// so validity is checked on the raw bytes: the key's, and the value's.
		if !utf8.Valid(body[start:dec.InputOffset()]) {
			return invalidBody("member names must be valid UTF-8")
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return invalidBody("must be well-formed JSON: " + syntaxMessage(err))
		}
		if _, dup := obj[key]; dup {
			members.Add(key, "must be given only once")
		}
		if !utf8.Valid(raw) {
			members.Add(key, "must be valid UTF-8")
		}
		obj[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return invalidBody("must be well-formed JSON: " + syntaxMessage(err))
	}
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return invalidBody("must hold exactly one JSON object")
	}
	v.Merge(members.Err())
	return obj
}

func syntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// present reports whether key was given with a non-null value.
func (o jsonObject) present(key string) bool {
	raw, ok := o[key]
	return ok && !isNull(raw)
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// text returns the string member key; "" with a violation when it is absent,
// null or not a string and required, or when it is not a string.
func (o jsonObject) text(v *domain.Violations, key string) string {
	if !o.present(key) {
		v.Add(key, "is required")
		return ""
	}
	s, ok := o.optionalText(v, key)
	if !ok || s == nil {
		return ""
	}
	return *s
}

// optionalText returns the string member key, nil when it is absent or null;
// ok is false (with a violation) when it is not a string or not storable as
// sent (errLoneSurrogate).
func (o jsonObject) optionalText(v *domain.Violations, key string) (s *string, ok bool) {
	if !o.present(key) {
		return nil, true
	}
	str, err := decodeString(o[key])
	switch {
	case errors.Is(err, errLoneSurrogate):
		v.Add(key, err.Error())
		return nil, false
	case err != nil:
		v.Add(key, "must be a string")
		return nil, false
	}
	return &str, true
}

// errLoneSurrogate rejects a JSON string that escapes half of a UTF-16
// surrogate pair: decoding would silently replace it with U+FFFD, and
// strings are stored exactly as sent.
var errLoneSurrogate = errors.New(`must not escape a lone UTF-16 surrogate (such as \ud800)`)

// decodeString decodes the non-null JSON value raw as a string. It fails when
// raw is not a string, or with errLoneSurrogate.
func decodeString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if strings.ContainsRune(s, utf8.RuneError) && hasLoneSurrogate(raw) {
		return "", errLoneSurrogate
	}
	return s, nil
}

// hasLoneSurrogate reports whether the well-formed JSON string literal lit
// has a \u escape of a surrogate that is not a high one followed by a low one.
func hasLoneSurrogate(lit []byte) bool {
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		i++ // a well-formed literal has the escaped character, and four hex digits after a u
		if lit[i] != 'u' {
			continue
		}
		r := hexRune(lit[i+1 : i+5])
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if lit[i+1] != '\\' || lit[i+2] != 'u' || utf16.DecodeRune(r, hexRune(lit[i+3:i+7])) == utf8.RuneError {
			return true
		}
		i += 6
	}
	return false
}

// hexRune returns the rune four hex digits name.
func hexRune(digits []byte) rune {
	n, _ := strconv.ParseUint(string(digits), 16, 16)
	return rune(n)
}

// jsonInteger is the JSON number grammar without fraction or exponent.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// integer returns the integer member key, or def when it is absent and not
// required. A required member that is absent or null "is required"; null
// where the member is optional, JSON numbers with a fraction or exponent
// (1.5, 15000.0, 1e3), strings and other types are violations. An integer
// too large for int64 is returned clamped, so range rules still reject it.
func (o jsonObject) integer(v *domain.Violations, key string, required bool, def int64) int64 {
	member, given := o[key]
	if !given || (required && isNull(member)) {
		if required {
			v.Add(key, "is required")
		}
		return def
	}
	raw := string(member)
	if !jsonInteger.MatchString(raw) {
		v.Add(key, "must be a JSON integer")
		return def
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		if raw[0] == '-' {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return n
}

// optionalInteger returns the integer member key, nil when it is absent or
// null; other values are checked as integer checks them.
func (o jsonObject) optionalInteger(v *domain.Violations, key string) *int64 {
	if !o.present(key) {
		return nil
	}
	n := o.integer(v, key, false, 0)
	return &n
}

// textArray returns the array-of-strings member key; a violation when it is
// absent, null, not an array or holds a non-string.
func (o jsonObject) textArray(v *domain.Violations, key string) []string {
	if !o.present(key) {
		v.Add(key, "is required")
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(o[key], &items); err != nil {
		v.Add(key, "must be an array of strings")
		return nil
	}
	out := make([]string, len(items))
	for i, item := range items {
		var err error
		out[i], err = decodeString(item)
		switch {
		case errors.Is(err, errLoneSurrogate):
			v.Add(key, err.Error())
			return nil
		case err != nil || isNull(item):
			v.Add(key, "must be an array of strings")
			return nil
		}
	}
	return out
}

// queryValues returns the request's query parameters with only the last
// value of each, so a parameter given twice means what it meant to the
// original service (FastAPI reads the last one).
func queryValues(r *http.Request) url.Values {
	q := r.URL.Query()
	for name, values := range q {
		q[name] = values[len(values)-1:]
	}
	return q
}
