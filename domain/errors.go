// Package domain holds the ticket aggregate of ticketd: its commands, events,
// validation rules and the pure functions that decide and fold them. It
// imports no infrastructure: storage, transport and messaging adapt to it.
package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Code classifies an Error so adapters can map it to their own status codes
// (HTTP status, CLI exit code) without inspecting messages.
type Code string

// The error codes of ticketd. Adapters map each to one status; anything that
// is not an *Error is CodeInternal.
const (
	CodeInvalid     Code = "invalid"     // the input breaks a rule; nothing was written
	CodeNotFound    Code = "not_found"   // the addressed entity does not exist
	CodeConflict    Code = "conflict"    // the request clashes with state (e.g. a reused idempotency key)
	CodeUnavailable Code = "unavailable" // a dependency cannot serve now; retrying later may succeed
	CodeInternal    Code = "internal"    // a bug or unexpected failure; details are never shown to users
)

// FieldError names one offending input field (a JSON name, a query parameter
// name or a header name) and says what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type the domain and its adapters use to tell users
// what went wrong. Message is safe to show to users; Fields lists every
// offending input when Code is CodeInvalid.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Rule names the rule of a showing a CodeConflict error breaks, which
	// adapters show as the problem's type; "" for every other error.
	Rule Rule
	// Facts are the numbers of a broken Rule a client acts on, by their
	// JSON member names (RuleSoldOut: available; RuleLimitExceeded: limit
	// and bought); nil when the rule has none.
	Facts map[string]int64
}

// Rule is a rule of selling a showing's seats that a command can break
// although it is valid: the contract's problem types for it.
type Rule string

// The rules of selling seats, named as the contract's problem types end.
const (
	RuleSoldOut       Rule = "sold-out"
	RuleLimitExceeded Rule = "limit-exceeded"
	RuleSalesClosed   Rule = "sales-closed"
	RuleHoldExpired   Rule = "hold-expired"
	RuleHoldUsed      Rule = "hold-used"
	RuleHoldReleased  Rule = "hold-released"
)

// ErrorRule returns the Rule of the first *Error in err's chain, or "".
func ErrorRule(err error) Rule {
	var e *Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return ""
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%d field errors, first %s: %s)", e.Code, e.Message, len(e.Fields), e.Fields[0].Field, e.Fields[0].Message)
}

// Errorf returns an *Error with the given code and a formatted user-facing message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain,
// "" for a nil err, and CodeInternal for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the user-facing message of the first *Error in err's
// chain, or a generic sentence for any other error so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// FieldErrors returns the field errors of the first *Error in err's chain, or nil.
func FieldErrors(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Violations accumulates field errors so a validation reports every offending
// field at once. The zero value is ready to use.
type Violations struct {
	fields []FieldError
}

// Add records that field breaks a rule. Only the first message per field is kept.
func (v *Violations) Add(field, message string) {
	if v.Has(field) {
		return
	}
	v.fields = append(v.fields, FieldError{Field: field, Message: message})
}

// Has reports whether field already has a recorded violation.
func (v *Violations) Has(field string) bool {
	for _, f := range v.fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Merge adds every field error of err (when it is an *Error) to v.
func (v *Violations) Merge(err error) {
	for _, f := range FieldErrors(err) {
		v.Add(f.Field, f.Message)
	}
}

// Sort orders the recorded violations by the position of their field in
// order; fields not in order keep their relative order after the others.
func (v *Violations) Sort(order []string) {
	rank := func(field string) int {
		if i := slices.Index(order, field); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(v.fields, func(a, b FieldError) int { return rank(a.Field) - rank(b.Field) })
}

// Err returns nil when nothing was recorded, else a CodeInvalid *Error listing
// every violation in the order recorded.
func (v *Violations) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	names := make([]string, len(v.fields))
	for i, f := range v.fields {
		names[i] = f.Field
	}
	return &Error{Code: CodeInvalid, Message: "Invalid: " + strings.Join(names, ", ") + ".", Fields: v.fields}
}
