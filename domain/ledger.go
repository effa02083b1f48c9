package domain

import (
	"fmt"
	"time"
)

// SeatLedger folds a log in position order and checks, at every position,
// the invariant of showings: for every showing, seats sold (tickets issued
// for it and not refunded) plus seats held (holds live at the event's time:
// not expired by then, not released, not turned into tickets) are at most
// its capacity, and each buyer's seats of it, sold and held, at most its
// per-buyer limit. It is what `verify` checks, and counts what the log's
// counters decided: a hold is live before its ExpiresAt, tickets bought on
// a hold end it. A log without showings has nothing to break. Memory grows
// with the showings' tickets and holds, not with the log.
type SeatLedger struct {
	showings map[string]*ledgerShowing
	// tickets are the tickets sold for a showing and not refunded.
	tickets map[string]seatTicket
}

type ledgerShowing struct {
	Showing
	sold   int64
	bought map[string]int64
	// live are the ids of the holds the log has not ended.
	live map[string]bool
}

type seatTicket struct{ showing, user string }

// SeatViolation is a position at which the log breaks the invariant of a
// showing: Seats sold and held there (UserID's alone, when UserID is set)
// pass Limit, the showing's capacity or per-buyer limit (0 for a showing
// never scheduled).
type SeatViolation struct {
	Position  int64
	ShowingID string
	UserID    string
	Seats     int64
	Limit     int64
}

func (v *SeatViolation) Error() string {
	switch {
	case v.Limit == 0:
		return fmt.Sprintf("position %d: %d seats sold or held for showing %s, which was never scheduled", v.Position, v.Seats, v.ShowingID)
	case v.UserID != "":
		return fmt.Sprintf("position %d: buyer %q has %d seats sold or held of showing %s, more than its per-buyer limit %d", v.Position, v.UserID, v.Seats, v.ShowingID, v.Limit)
	}
	return fmt.Sprintf("position %d: %d seats sold or held of showing %s, more than its capacity %d", v.Position, v.Seats, v.ShowingID, v.Limit)
}

// NewSeatLedger returns a ledger of an empty log.
func NewSeatLedger() *SeatLedger {
	return &SeatLedger{showings: map[string]*ledgerShowing{}, tickets: map[string]seatTicket{}}
}

// Next folds e, the event of stream at position, which occurred at
// occurredAt, after the events folded before, and returns the violation of
// the invariant it makes, or nil. Events that take no seats never make one.
func (l *SeatLedger) Next(position int64, stream string, e Event, occurredAt time.Time) *SeatViolation {
	switch e := e.(type) {
	case ShowingScheduled, HoldReleased, HoldExpired:
		s := l.showing(stream)
		s.Evolve(stream, e, occurredAt)
		if ended, ok := heldID(e); ok {
			delete(s.live, ended)
		}
	case SeatsHeld:
		s := l.showing(stream)
		s.Evolve(stream, e, occurredAt)
		s.live[e.HoldID] = true
		return s.check(position, e.UserID, occurredAt)
	case TicketIssued:
		if e.ShowingID == nil {
			return nil
		}
		s := l.showing(*e.ShowingID)
		if e.HoldID != nil {
			s.Evolve(stream, e, occurredAt)
			delete(s.live, *e.HoldID)
		}
		s.sold++
		s.bought[e.UserID]++
		l.tickets[stream] = seatTicket{showing: *e.ShowingID, user: e.UserID}
		return s.check(position, e.UserID, occurredAt)
	case TicketRefunded:
		if t, ok := l.tickets[stream]; ok {
			s := l.showings[t.showing]
			s.sold--
			s.bought[t.user]--
			delete(l.tickets, stream)
		}
	}
	return nil
}

// heldID returns the hold an event that ends one names.
func heldID(e Event) (string, bool) {
	switch e := e.(type) {
	case HoldReleased:
		return e.HoldID, true
	case HoldExpired:
		return e.HoldID, true
	}
	return "", false
}

func (l *SeatLedger) showing(id string) *ledgerShowing {
	s, ok := l.showings[id]
	if !ok {
		s = &ledgerShowing{Showing: Showing{ID: id}, bought: map[string]int64{}, live: map[string]bool{}}
		l.showings[id] = s
	}
	return s
}

// check returns the violation at position of s's capacity or of user's
// seats, live holds counted at at; nil when both hold.
func (s *ledgerShowing) check(position int64, user string, at time.Time) *SeatViolation {
	seats, userSeats := s.sold, s.bought[user]
	for id := range s.live {
		if h := s.Holds[id]; h.StatusAt(at) == HoldStatusActive {
			seats += h.Quantity
			if h.UserID == user {
				userSeats += h.Quantity
			}
		}
	}
	if seats > s.Capacity {
		return &SeatViolation{Position: position, ShowingID: s.ID, Seats: seats, Limit: s.Capacity}
	}
	if s.PerBuyerLimit != nil && userSeats > *s.PerBuyerLimit {
		return &SeatViolation{Position: position, ShowingID: s.ID, UserID: user, Seats: userSeats, Limit: *s.PerBuyerLimit}
	}
	return nil
}

// HoldState is a hold the log's counters keep as a reservation: its
// reservation and its status by the events folded (active until an event
// ends it, whatever the clock).
type HoldState struct {
	HoldReservation
	Status HoldStatus
}

// SeatCounts is what the log's counters hold after the events a SeatLedger
// folded, had each been appended with its SeatChanges: Used is each
// counter's settled amount (seats sold and not refunded; a buyer's counter
// only for a showing with a per-buyer limit), Holds every hold with the
// claims it reserved. Loading a log without appends (an import) restores
// the counters from it.
type SeatCounts struct {
	Used  map[string]int64
	Holds []HoldState
}

// Counts returns the counters' state of the events folded so far.
func (l *SeatLedger) Counts() SeatCounts {
	c := SeatCounts{Used: map[string]int64{}, Holds: []HoldState{}}
	for id, s := range l.showings {
		c.Used[ShowingCounter(id)] = s.sold
		if s.PerBuyerLimit != nil {
			for user, n := range s.bought {
				c.Used[BuyerCounter(id, user)] = n
			}
		}
		for _, h := range s.Holds {
			c.Holds = append(c.Holds, HoldState{
				HoldReservation: HoldReservation{ID: h.ID, ExpiresAt: h.ExpiresAt, Claims: s.claims(h.UserID, h.Quantity)},
				Status:          h.Status,
			})
		}
	}
	return c
}
