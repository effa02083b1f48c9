package domain

import (
	"fmt"
	"time"
)

// TimeLayout is how ticketd writes every timestamp: RFC 3339 in UTC with
// exactly six fractional digits, so stored values sort as text in time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// FormatTime returns t in TimeLayout, in UTC, truncated to microseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(TimeLayout)
}

// ParseTime parses a timestamp written by FormatTime, or any RFC 3339 time,
// and returns it as FormatTime keeps it: in UTC, truncated to microseconds.
// It fails on text that is not RFC 3339 and on a time FormatTime could not
// write back as RFC 3339 (outside the years 0000 to 9999 in UTC).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("parsing time %q: year %d in UTC is outside 0000 to 9999", s, t.Year())
	}
	return t, nil
}
