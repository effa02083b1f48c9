package domain

import (
	"time"
)

// Event types of showings. Their stream is the showing's id.
const (
	TypeShowingScheduled = "ShowingScheduled"
	TypeSeatsHeld        = "SeatsHeld"
	TypeHoldReleased     = "HoldReleased"
	TypeHoldExpired      = "HoldExpired"
)

// ShowingScheduled records that a showing was scheduled: it opens the
// showing's stream, whose id is the showing's. StartsAt is the RFC 3339
// time exactly as the manager sent it (offset kept); PerBuyerLimit is nil
// when the showing has none. Nothing of it changes afterwards.
type ShowingScheduled struct {
	TheaterName   string `json:"theater_name"`
	MovieTitle    string `json:"movie_title"`
	StartsAt      string `json:"starts_at"`
	Capacity      int64  `json:"capacity"`
	PriceKRW      int64  `json:"price_krw"`
	PerBuyerLimit *int64 `json:"per_buyer_limit"`
}

// EventType implements Event.
func (ShowingScheduled) EventType() string { return TypeShowingScheduled }

// SeatsHeld records that Quantity seats of the showing whose stream it is in
// were held for UserID until ExpiresAt (exclusive: from that instant they are
// free again).
type SeatsHeld struct {
	HoldID    string    `json:"hold_id"`
	UserID    string    `json:"user_id"`
	Quantity  int64     `json:"quantity"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EventType implements Event.
func (SeatsHeld) EventType() string { return TypeSeatsHeld }

// HoldReleased records that an active hold gave its seats back on request.
type HoldReleased struct {
	HoldID string `json:"hold_id"`
}

// EventType implements Event.
func (HoldReleased) EventType() string { return TypeHoldReleased }

// HoldExpired records that a hold's time ran out unused. Its seats were free
// from the hold's ExpiresAt on; the event, appended later, tells the log so.
type HoldExpired struct {
	HoldID string `json:"hold_id"`
}

// EventType implements Event.
func (HoldExpired) EventType() string { return TypeHoldExpired }

// HoldStatus is the state of a hold.
type HoldStatus string

// The statuses of a hold.
const (
	HoldStatusActive   HoldStatus = "active"
	HoldStatusUsed     HoldStatus = "used" // turned into tickets
	HoldStatusReleased HoldStatus = "released"
	HoldStatusExpired  HoldStatus = "expired"
)

// Hold is the state of one hold of a showing, folded from the showing's
// stream (and the TicketIssued events bought on it, when those are folded).
type Hold struct {
	ID        string
	ShowingID string
	UserID    string
	Quantity  int64
	ExpiresAt time.Time
	// Status is what the log says; StatusAt also reads the clock.
	Status HoldStatus
	HeldAt time.Time
}

// StatusAt returns h's status at now: an active hold is expired from its
// ExpiresAt on, whether or not its HoldExpired event is in the log yet.
func (h Hold) StatusAt(now time.Time) HoldStatus {
	if h.Status == HoldStatusActive && !now.Before(h.ExpiresAt) {
		return HoldStatusExpired
	}
	return h.Status
}

// Showing is the state of one showing folded from its stream: its schedule
// and its holds. The zero Showing (Version 0) is a showing that does not
// exist. Seats sold are not part of it: the log's counters decide them (see
// SeatChanges), and SeatLedger counts them from the whole log.
type Showing struct {
	ID            string
	TheaterName   string
	MovieTitle    string
	StartsAt      string
	Capacity      int64
	PriceKRW      int64
	PerBuyerLimit *int64
	ScheduledAt   time.Time
	// Holds are the showing's holds by id.
	Holds map[string]Hold
	// Version is the number of events of the showing's stream folded.
	Version int64
}

// Exists reports whether the showing was scheduled.
func (s *Showing) Exists() bool { return s != nil && s.Version > 0 }

// Start returns when the showing starts; sales close at that instant. A
// StartsAt that is not RFC 3339 (never the case for a scheduled showing)
// gives the zero time, so sales are closed.
func (s *Showing) Start() time.Time {
	t, err := ParseTime(s.StartsAt)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Evolve folds into s the event e of s's stream id, which occurred at
// occurredAt, and a TicketIssued bought on one of its holds (whatever the
// ticket's stream), which marks the hold used. Events are facts: Evolve
// never fails, and other events leave s unchanged. Only events of the
// showing's stream count in Version.
func (s *Showing) Evolve(id string, e Event, occurredAt time.Time) {
	if t, ok := e.(TicketIssued); ok {
		if t.HoldID != nil {
			s.setHoldStatus(*t.HoldID, HoldStatusUsed)
		}
		return
	}
	s.ID = id
	s.Version++
	switch e := e.(type) {
	case ShowingScheduled:
		s.TheaterName, s.MovieTitle, s.StartsAt = e.TheaterName, e.MovieTitle, e.StartsAt
		s.Capacity, s.PriceKRW, s.PerBuyerLimit = e.Capacity, e.PriceKRW, e.PerBuyerLimit
		s.ScheduledAt = occurredAt
	case SeatsHeld:
		if s.Holds == nil {
			s.Holds = map[string]Hold{}
		}
		s.Holds[e.HoldID] = Hold{ID: e.HoldID, ShowingID: id, UserID: e.UserID, Quantity: e.Quantity,
			ExpiresAt: e.ExpiresAt, Status: HoldStatusActive, HeldAt: occurredAt}
	case HoldReleased:
		s.setHoldStatus(e.HoldID, HoldStatusReleased)
	case HoldExpired:
		s.setHoldStatus(e.HoldID, HoldStatusExpired)
	}
}

// setHoldStatus ends the active hold id with status; a hold that already
// ended keeps its status.
func (s *Showing) setHoldStatus(id string, status HoldStatus) {
	if h, ok := s.Holds[id]; ok && h.Status == HoldStatusActive {
		h.Status = status
		s.Holds[id] = h
	}
}
