package domain

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of the ticket rules, shared by validation and documentation.
const (
	MaxTheaterNameLen = 100
	MaxUserIDLen      = 100
	MaxMovieTitleLen  = 200
	MaxMemoLen        = 1000
	MinPriceKRW       = 1
	MaxPriceKRW       = 1_000_000
	MinQuantity       = 1
	MaxQuantity       = 10
	MaxRefundIDs      = 1000
	MaxReasonLen      = 500
)

// IssueFields are the fields of an issue request in the contract's order,
// the order in which violations are reported.
var IssueFields = []string{"theater_name", "user_id", "movie_title", "price_krw", "quantity", "memo"}

// RefundFields are the fields of a refund request in the contract's order.
var RefundFields = []string{"ticket_ids", "reason"}

// DefaultQuantity is the quantity of an issue request that names none.
const DefaultQuantity = 1

// IssueTickets asks for Quantity identical tickets.
type IssueTickets struct {
	TheaterName string
	UserID      string
	MovieTitle  string
	PriceKRW    int64
	Quantity    int64
	Memo        *string
}

// Validate returns a CodeInvalid *Error naming every field of c that breaks a
// rule, or nil.
func (c IssueTickets) Validate() error {
	var v Violations
	requiredText(&v, "theater_name", c.TheaterName, MaxTheaterNameLen)
	requiredText(&v, "user_id", c.UserID, MaxUserIDLen)
	requiredText(&v, "movie_title", c.MovieTitle, MaxMovieTitleLen)
	between(&v, "price_krw", c.PriceKRW, MinPriceKRW, MaxPriceKRW)
	between(&v, "quantity", c.Quantity, MinQuantity, MaxQuantity)
	optionalText(&v, "memo", c.Memo, MaxMemoLen)
	return v.Err()
}

// NewTicket is one ticket an issue decision creates: the id of its new stream
// and the event that opens it.
type NewTicket struct {
	ID    string
	Event TicketIssued
}

// Issue decides an IssueTickets command: it validates the command and returns one TicketIssued per ticket, each under a fresh id from newID.
// It fails with a CodeInvalid *Error when the command breaks a rule.
func Issue(c IssueTickets, newID func() uuid.UUID) ([]NewTicket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tickets := make([]NewTicket, c.Quantity)
	for i := range tickets {
		tickets[i] = NewTicket{
			ID: newID().String(),
			Event: TicketIssued{
				TheaterName: c.TheaterName,
				UserID:      c.UserID,
				MovieTitle:  c.MovieTitle,
				PriceKRW:    c.PriceKRW,
				Memo:        c.Memo,
			},
		}
	}
	return tickets, nil
}

// RefundTickets asks to refund every ticket in TicketIDs. Ids may repeat and
// need not be well-formed: unknown ones are reported, not rejected.
type RefundTickets struct {
	TicketIDs []string
	Reason    *string
}

// Validate returns a CodeInvalid *Error naming every field of c that breaks a
// rule, or nil.
func (c RefundTickets) Validate() error {
	var v Violations
	switch {
	case len(c.TicketIDs) == 0:
		v.Add("ticket_ids", "must contain at least 1 id")
	case len(c.TicketIDs) > MaxRefundIDs:
		v.Add("ticket_ids", fmt.Sprintf("must contain at most %d ids", MaxRefundIDs))
	}
	for _, id := range c.TicketIDs {
		if id == "" {
			v.Add("ticket_ids", "must not contain empty ids")
			break
		}
	}
	optionalText(&v, "reason", c.Reason, MaxReasonLen)
	return v.Err()
}

// DistinctIDs returns the ticket ids of c in request order, each once.
func (c RefundTickets) DistinctIDs() []string {
	seen := make(map[string]bool, len(c.TicketIDs))
	ids := make([]string, 0, len(c.TicketIDs))
	for _, id := range c.TicketIDs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// IsTicketID reports whether id can name a ticket: a UUID in canonical
// text form (lower-case, hyphenated), as every ticket id Issue makes is.
// Any other id names no ticket, so a refund reports it not found without
// looking for it.
func IsTicketID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// RefundDecision is the outcome of a refund: every distinct requested id in
// exactly one of the three lists, in request order, and the events to append
// (one per id in Refunded, in the same order).
type RefundDecision struct {
	Refunded        []string
	AlreadyCanceled []string
	NotFound        []string
	Events          []TicketRefunded
}

// Refund decides a RefundTickets command against the current state of the
// tickets it names; tickets maps an id to its state and lacks ids that do not
// exist. It fails with a CodeInvalid *Error when the command breaks a rule.
func Refund(c RefundTickets, tickets map[string]Ticket) (RefundDecision, error) {
	if err := c.Validate(); err != nil {
		return RefundDecision{}, err
	}
	d := RefundDecision{Refunded: []string{}, AlreadyCanceled: []string{}, NotFound: []string{}}
	for _, id := range c.DistinctIDs() {
		t, ok := tickets[id]
		switch {
		case !ok || !t.Exists():
			d.NotFound = append(d.NotFound, id)
		case t.Status == StatusCanceled:
			d.AlreadyCanceled = append(d.AlreadyCanceled, id)
		default:
			d.Refunded = append(d.Refunded, id)
			d.Events = append(d.Events, TicketRefunded{Reason: c.Reason})
		}
	}
	return d, nil
}

// TextLen returns the length of s in Unicode characters, the unit of every
// length rule.
func TextLen(s string) int { return utf8.RuneCountInString(s) }

func requiredText(v *Violations, field, s string, maxLen int) {
	if strings.TrimSpace(s) == "" {
		v.Add(field, "is required and must not be blank")
		return
	}
	optionalText(v, field, &s, maxLen)
}

// optionalText checks the rules every text follows: at most maxLen
// characters, and no NUL (U+0000), which C-string consumers of exports and
// of the database would cut the text at.
func optionalText(v *Violations, field string, s *string, maxLen int) {
	switch {
	case s == nil:
	case TextLen(*s) > maxLen:
		v.Add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case strings.IndexByte(*s, 0) >= 0:
		v.Add(field, "must not contain NUL (U+0000) characters")
	}
}
