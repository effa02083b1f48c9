package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/ticketd/ticketd/domain"
)

// jsonObject is a request body split into its top-level members, each kept
// raw so every member's type can be checked and reported separately.
type jsonObject map[string]json.RawMessage

// decodeObject parses body as one JSON object. Malformed JSON, invalid UTF-8,
// a non-object, trailing data or a key given twice is a CodeInvalid
// *domain.Error naming the body or the repeated key.
func decodeObject(body []byte) (jsonObject, error) {
	invalidBody := func(msg string) error {
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body is not valid JSON.",
			Fields: []domain.FieldError{{Field: "body", Message: msg}}}
	}
	if !utf8.Valid(body) {
		return nil, invalidBody("must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, invalidBody("must be a JSON object")
	}
	obj := jsonObject{}
	var v domain.Violations
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidBody("must be well-formed JSON: " + syntaxMessage(err))
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalidBody("must be well-formed JSON: " + syntaxMessage(err))
		}
		if _, dup := obj[key]; dup {
			v.Add(key, "must be given only once")
		}
		obj[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalidBody("must be well-formed JSON: " + syntaxMessage(err))
	}
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, invalidBody("must hold exactly one JSON object")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return obj, nil
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
// ok is false (with a violation) when it is not a string.
func (o jsonObject) optionalText(v *domain.Violations, key string) (s *string, ok bool) {
	if !o.present(key) {
		return nil, true
	}
	var str string
	if err := json.Unmarshal(o[key], &str); err != nil {
		v.Add(key, "must be a string")
		return nil, false
	}
	return &str, true
}

// jsonInteger is the JSON number grammar without fraction or exponent.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// integer returns the integer member key, or def when it is absent or null
// and not required. JSON numbers with a fraction or exponent (1.5, 15000.0,
// 1e3), strings and other types are violations. An integer too large for
// int64 is returned clamped, so range rules still reject it.
func (o jsonObject) integer(v *domain.Violations, key string, required bool, def int64) int64 {
	if !o.present(key) {
		if required {
			v.Add(key, "is required")
		}
		return def
	}
	raw := string(o[key])
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
		if err := json.Unmarshal(item, &out[i]); err != nil || isNull(item) {
			v.Add(key, "must be an array of strings")
			return nil
		}
	}
	return out
}
