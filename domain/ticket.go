package domain

import "time"

// Status is the lifecycle state of a ticket.
type Status string

// The statuses a ticket can be in.
const (
	StatusIssued   Status = "issued"
	StatusCanceled Status = "canceled"
)

// ParseStatus returns the Status named s, or false when s names none.
func ParseStatus(s string) (Status, bool) {
	switch Status(s) {
	case StatusIssued, StatusCanceled:
		return Status(s), true
	}
	return "", false
}

// Event types as they are stored in the log and shown to users.
const (
	TypeTicketIssued   = "TicketIssued"
	TypeTicketRefunded = "TicketRefunded"
)

// Event is a fact recorded in a ticket's stream. Its JSON encoding is the
// event's `data` in the log; changing field names breaks stored logs.
type Event interface {
	EventType() string
}

// TicketIssued records that one ticket was sold. The ticket's id is the
// stream the event belongs to; its issue time is the event's occurrence time.
// ShowingID is the showing it was sold for and HoldID the hold it was bought
// on; both are nil, and absent from the data, for tickets sold without one,
// so events written before showings existed read and encode as they were.
type TicketIssued struct {
	TheaterName string  `json:"theater_name"`
	UserID      string  `json:"user_id"`
	MovieTitle  string  `json:"movie_title"`
	PriceKRW    int64   `json:"price_krw"`
	Memo        *string `json:"memo"`
	ShowingID   *string `json:"showing_id,omitempty"`
	HoldID      *string `json:"hold_id,omitempty"`
}

// EventType implements Event.
func (TicketIssued) EventType() string { return TypeTicketIssued }

// TicketRefunded records that a ticket was refunded and so canceled. Reason is
// nil when the client gave none; the refund time is the event's occurrence time.
type TicketRefunded struct {
	Reason *string `json:"reason"`
}

// EventType implements Event.
func (TicketRefunded) EventType() string { return TypeTicketRefunded }

// Ticket is the state of one ticket folded from its stream. The zero Ticket
// (Version 0) is a ticket that does not exist.
type Ticket struct {
	ID          string
	TheaterName string
	UserID      string
	MovieTitle  string
	PriceKRW    int64
	Status      Status
	Memo        *string
	// ShowingID is the showing the ticket was sold for, nil for none.
	ShowingID  *string
	IssuedAt   time.Time
	CanceledAt *time.Time
	// Version is the number of events folded into the ticket.
	Version int64
}

// Exists reports whether at least one event has been folded into t.
func (t Ticket) Exists() bool { return t.Version > 0 }

// Evolve returns t after applying e, which occurred at the given time.
// Events are facts: Evolve never fails, and unknown events leave t unchanged
// except for its version.
func Evolve(t Ticket, id string, e Event, occurredAt time.Time) Ticket {
	t.ID = id
	t.Version++
	switch e := e.(type) {
	case TicketIssued:
		t.TheaterName = e.TheaterName
		t.UserID = e.UserID
		t.MovieTitle = e.MovieTitle
		t.PriceKRW = e.PriceKRW
		t.Memo = e.Memo
		t.ShowingID = e.ShowingID
		t.Status = StatusIssued
		t.IssuedAt = occurredAt
	case TicketRefunded:
		t.Status = StatusCanceled
		at := occurredAt
		t.CanceledAt = &at
	}
	return t
}
