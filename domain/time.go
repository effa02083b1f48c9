package domain

import "time"

// TimeLayout is how ticketd writes every timestamp: RFC 3339 in UTC with
// exactly six fractional digits, so stored values sort as text in time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// FormatTime returns t in TimeLayout, in UTC, truncated to microseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(TimeLayout)
}

// ParseTime parses a timestamp written by FormatTime (or any RFC 3339 time).
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
