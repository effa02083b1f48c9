package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Limits of the showing rules, shared by validation and documentation.
const (
	MinCapacity       = 1
	MaxCapacity       = 100_000
	MinPerBuyerLimit  = 1
	MaxPerBuyerLimit  = 100
	MinHoldTTLSeconds = 30
	MaxHoldTTLSeconds = 3600
	// DefaultHoldTTLSeconds is the ttl_seconds of a hold request that names none.
	DefaultHoldTTLSeconds = 600
)

// ScheduleFields are the fields of a schedule request in the contract's
// order, the order in which violations are reported.
var ScheduleFields = []string{"theater_name", "movie_title", "starts_at", "capacity", "price_krw", "per_buyer_limit"}

// HoldFields are the fields of a hold request in the contract's order.
var HoldFields = []string{"user_id", "quantity", "ttl_seconds"}

// ShowingIssueFields are the fields of an issue request against a showing
// or a hold, in the contract's order.
var ShowingIssueFields = slices.Concat(IssueFields, []string{"showing_id", "hold_id"})

// ScheduleShowing asks to schedule a showing. StartsAt is RFC 3339 text,
// kept as sent; PerBuyerLimit is nil for no limit.
type ScheduleShowing struct {
	TheaterName   string
	MovieTitle    string
	StartsAt      string
	Capacity      int64
	PriceKRW      int64
	PerBuyerLimit *int64
}

// Validate returns a CodeInvalid *Error naming every field of c that breaks a
// rule at now (starts_at must be later), or nil.
func (c ScheduleShowing) Validate(now time.Time) error {
	var v Violations
	requiredText(&v, "theater_name", c.TheaterName, MaxTheaterNameLen)
	requiredText(&v, "movie_title", c.MovieTitle, MaxMovieTitleLen)
	if startsAt, err := ParseTime(c.StartsAt); err != nil {
		v.Add("starts_at", "must be an RFC 3339 time with an offset, such as 2026-12-24T19:30:00+09:00")
	} else if !startsAt.After(now) {
		v.Add("starts_at", "must be later than now")
	}
	between(&v, "capacity", c.Capacity, MinCapacity, MaxCapacity)
	between(&v, "price_krw", c.PriceKRW, MinPriceKRW, MaxPriceKRW)
	if c.PerBuyerLimit != nil {
		between(&v, "per_buyer_limit", *c.PerBuyerLimit, MinPerBuyerLimit, MaxPerBuyerLimit)
	}
	return v.Err()
}

// NewShowing is a showing a schedule decision creates: the id of its new
// stream and the event that opens it.
type NewShowing struct {
	ID    string
	Event ShowingScheduled
}

// Schedule decides a ScheduleShowing command at now: the showing under a
// fresh id from newID. It fails with a CodeInvalid *Error when the command
// breaks a rule.
func Schedule(c ScheduleShowing, now time.Time, newID func() uuid.UUID) (NewShowing, error) {
	if err := c.Validate(now); err != nil {
		return NewShowing{}, err
	}
	return NewShowing{ID: newID().String(), Event: ShowingScheduled{TheaterName: c.TheaterName, MovieTitle: c.MovieTitle,
		StartsAt: c.StartsAt, Capacity: c.Capacity, PriceKRW: c.PriceKRW, PerBuyerLimit: c.PerBuyerLimit}}, nil
}

// HoldSeats asks to hold Quantity seats of a showing for UserID during
// TTLSeconds.
type HoldSeats struct {
	UserID     string
	Quantity   int64
	TTLSeconds int64
}

// Validate returns a CodeInvalid *Error naming every field of c that breaks a
// rule, or nil.
func (c HoldSeats) Validate() error {
	var v Violations
	requiredText(&v, "user_id", c.UserID, MaxUserIDLen)
	between(&v, "quantity", c.Quantity, MinQuantity, MaxQuantity)
	between(&v, "ttl_seconds", c.TTLSeconds, MinHoldTTLSeconds, MaxHoldTTLSeconds)
	return v.Err()
}

// HoldDecision is a hold taken: the hold as it is answered, the SeatsHeld
// event to append to its showing's stream, and the reservation of its seats.
type HoldDecision struct {
	Hold  Hold
	Event SeatsHeld
	Seats SeatChanges
}

// TakeHold decides a HoldSeats command on showing s at now, the hold under a
// fresh id from newID; the log then decides whether the seats are there. It
// fails with a CodeInvalid *Error when the command breaks a rule, a
// CodeNotFound one when s does not exist, and RuleSalesClosed at or after
// the showing's start.
func TakeHold(c HoldSeats, s *Showing, now time.Time, newID func() uuid.UUID) (HoldDecision, error) {
	if err := c.Validate(); err != nil {
		return HoldDecision{}, err
	}
	if !s.Exists() {
		return HoldDecision{}, Errorf(CodeNotFound, "No such showing.")
	}
	if err := salesOpen(s, now); err != nil {
		return HoldDecision{}, err
	}
	e := SeatsHeld{HoldID: newID().String(), UserID: c.UserID, Quantity: c.Quantity,
		ExpiresAt: now.Add(time.Duration(c.TTLSeconds) * time.Second).UTC().Truncate(time.Microsecond)}
	return HoldDecision{
		Hold:  Hold{ID: e.HoldID, ShowingID: s.ID, UserID: e.UserID, Quantity: e.Quantity, ExpiresAt: e.ExpiresAt, Status: HoldStatusActive, HeldAt: now},
		Event: e,
		Seats: SeatChanges{Reserve: []HoldReservation{{ID: e.HoldID, ExpiresAt: e.ExpiresAt, Claims: s.claims(c.UserID, c.Quantity)}}},
	}, nil
}

// IssueShowingTickets asks for tickets of a showing, against its free seats
// (ShowingID) or a hold (HoldID), exactly one of the two. The showing gives
// theater, movie and price: each is nil when the client left it out, and
// must equal the showing's when sent. With a hold, UserID must be the
// hold's, and Quantity, nil when left out, the hold's; without one, a nil
// Quantity is DefaultQuantity.
type IssueShowingTickets struct {
	ShowingID   *string
	HoldID      *string
	TheaterName *string
	UserID      string
	MovieTitle  *string
	PriceKRW    *int64
	Quantity    *int64
	Memo        *string
}

// Validate returns a CodeInvalid *Error naming every field of c that breaks
// a rule it can break without the showing, or nil.
func (c IssueShowingTickets) Validate() error {
	var v Violations
	c.validate(&v)
	return v.Err()
}

func (c IssueShowingTickets) validate(v *Violations) {
	optionalText(v, "theater_name", c.TheaterName, MaxTheaterNameLen)
	requiredText(v, "user_id", c.UserID, MaxUserIDLen)
	optionalText(v, "movie_title", c.MovieTitle, MaxMovieTitleLen)
	if c.PriceKRW != nil {
		between(v, "price_krw", *c.PriceKRW, MinPriceKRW, MaxPriceKRW)
	}
	if c.Quantity != nil {
		between(v, "quantity", *c.Quantity, MinQuantity, MaxQuantity)
	}
	optionalText(v, "memo", c.Memo, MaxMemoLen)
	switch {
	case c.ShowingID != nil && c.HoldID != nil:
		v.Add("showing_id", "must not be given with hold_id")
		v.Add("hold_id", "must not be given with showing_id")
	case c.ShowingID == nil && c.HoldID == nil:
		v.Add("showing_id", "or hold_id is required")
	}
}

// ShowingSale is an issue decided against a showing: its tickets, each
// carrying the showing (and hold), and the seats the log must grant.
type ShowingSale struct {
	Tickets []NewTicket
	Seats   SeatChanges
}

// IssueForShowing decides c against s at now: s is the showing c's
// ShowingID names, or the showing of its HoldID (nil or not existing when
// there is none), with its holds. Tickets get fresh ids from newID. It fails
// with a CodeInvalid *Error naming every field that breaks a rule, also an
// unknown showing_id or hold_id and a field unequal to the showing's or
// hold's; with RuleSalesClosed at or after the showing's start; with
// RuleHoldExpired, RuleHoldReleased or RuleHoldUsed for a hold that is not
// active at now. Whether the seats are there the log decides, with the
// claims of the sale (see ClaimRefused and HoldRefused).
func IssueForShowing(c IssueShowingTickets, s *Showing, now time.Time, newID func() uuid.UUID) (ShowingSale, error) {
	var v Violations
	c.validate(&v)
	hold, err := c.matchShowing(&v, s)
	if err != nil {
		return ShowingSale{}, err
	}
	if err := salesOpen(s, now); err != nil {
		return ShowingSale{}, err
	}
	quantity := int64(DefaultQuantity)
	switch {
	case hold != nil:
		if status := hold.StatusAt(now); status != HoldStatusActive {
			return ShowingSale{}, holdEnded(*hold, status)
		}
		quantity = hold.Quantity
	case c.Quantity != nil:
		quantity = *c.Quantity
	}
	showingID := s.ID
	sale := ShowingSale{Tickets: make([]NewTicket, quantity)}
	for i := range sale.Tickets {
		sale.Tickets[i] = NewTicket{ID: newID().String(), Event: TicketIssued{TheaterName: s.TheaterName, UserID: c.UserID,
			MovieTitle: s.MovieTitle, PriceKRW: s.PriceKRW, Memo: c.Memo, ShowingID: &showingID, HoldID: c.HoldID}}
	}
	if hold != nil {
		sale.Seats.Settle = []string{hold.ID}
	} else {
		sale.Seats.Claims = s.claims(c.UserID, quantity)
	}
	return sale, nil
}

// matchShowing adds to v what c names that s lacks or that differs from s
// (its hold's, with a HoldID), and returns v's error, sorted, with the hold
// c names (nil without a HoldID).
func (c IssueShowingTickets) matchShowing(v *Violations, s *Showing) (*Hold, error) {
	var hold *Hold
	switch {
	case c.ShowingID != nil && c.HoldID != nil:
	case c.ShowingID != nil && (!s.Exists() || s.ID != *c.ShowingID):
		v.Add("showing_id", "names no showing")
	case c.HoldID != nil:
		if h, ok := s.hold(*c.HoldID); ok {
			hold = &h
		} else {
			v.Add("hold_id", "names no hold")
		}
	}
	if v.Has("showing_id") || v.Has("hold_id") {
		v.Sort(ShowingIssueFields)
		return nil, v.Err()
	}
	mustEqual(v, "theater_name", c.TheaterName, s.TheaterName, "the showing's")
	mustEqual(v, "movie_title", c.MovieTitle, s.MovieTitle, "the showing's")
	mustEqual(v, "price_krw", c.PriceKRW, s.PriceKRW, "the showing's")
	if hold != nil {
		mustEqual(v, "user_id", &c.UserID, hold.UserID, "the hold's")
		mustEqual(v, "quantity", c.Quantity, hold.Quantity, "the hold's")
	}
	v.Sort(ShowingIssueFields)
	return hold, v.Err()
}

// hold returns the hold id of s, if s exists and has it.
func (s *Showing) hold(id string) (Hold, bool) {
	if !s.Exists() {
		return Hold{}, false
	}
	h, ok := s.Holds[id]
	return h, ok
}

// mustEqual adds a violation of field when it was sent (sent is not nil),
// has no violation yet, and differs from want, whose owner names.
func mustEqual[T comparable](v *Violations, field string, sent *T, want T, owner string) {
	if sent != nil && !v.Has(field) && *sent != want {
		v.Add(field, fmt.Sprintf("must equal %s: %v", owner, want))
	}
}

// salesOpen fails with RuleSalesClosed at or after s's start.
func salesOpen(s *Showing, now time.Time) error {
	if now.Before(s.Start()) {
		return nil
	}
	return &Error{Code: CodeConflict, Rule: RuleSalesClosed, Message: fmt.Sprintf("Sales are closed: the showing started at %s.", s.StartsAt)}
}

// HoldRelease is a release of a hold decided: the hold as it is answered,
// and, when it was active, the HoldReleased event to append to its
// showing's stream with the release of its reservation.
type HoldRelease struct {
	Hold  Hold
	Event *HoldReleased
	Seats SeatChanges
}

// ReleaseHold decides the release of hold id of s at now. A hold released
// or expired already is answered as it is, appending nothing. It fails with
// a CodeNotFound *Error for a hold s lacks and RuleHoldUsed for a used one.
func ReleaseHold(s *Showing, id string, now time.Time) (HoldRelease, error) {
	h, ok := s.hold(id)
	if !ok {
		return HoldRelease{}, Errorf(CodeNotFound, "No such hold.")
	}
	h.Status = h.StatusAt(now)
	switch h.Status {
	case HoldStatusUsed:
		return HoldRelease{}, HoldRefused(id, ReservationSettled)
	case HoldStatusActive:
		h.Status = HoldStatusReleased
		return HoldRelease{Hold: h, Event: &HoldReleased{HoldID: id}, Seats: SeatChanges{Release: []string{id}}}, nil
	}
	return HoldRelease{Hold: h}, nil
}

// Refused returns the outcome of r when the log refused its release because
// the hold's reservation is in state: a hold released or expired meanwhile
// is answered so, appending nothing, as a release decided after it is;
// any other state fails as HoldRefused says.
func (r HoldRelease) Refused(state string) (HoldRelease, error) {
	h := r.Hold
	switch state {
	case ReservationReleased:
		h.Status = HoldStatusReleased
	case ReservationExpired:
		h.Status = HoldStatusExpired
	default:
		return HoldRelease{}, HoldRefused(r.Hold.ID, state)
	}
	return HoldRelease{Hold: h}, nil
}

// ExpireHold decides the expiry of hold id of s at now: the HoldExpired
// event to append to the showing's stream with the release of the hold's
// reservation. ok is false, and nothing is to be appended, when the hold is
// unknown, ended in the log already, or not expired at now.
func ExpireHold(s *Showing, id string, now time.Time) (e HoldExpired, seats SeatChanges, ok bool) {
	h, found := s.hold(id)
	if !found || h.Status != HoldStatusActive || h.StatusAt(now) != HoldStatusExpired {
		return HoldExpired{}, SeatChanges{}, false
	}
	return HoldExpired{HoldID: id}, SeatChanges{Release: []string{id}}, true
}

// RefundShowings returns the ids of the showings the tickets refunded were
// sold for, each once, in order: the showings RefundSeats needs.
func RefundShowings(refunded []string, tickets map[string]Ticket) []string {
	var ids []string
	for _, id := range refunded {
		if s := tickets[id].ShowingID; s != nil && !slices.Contains(ids, *s) {
			ids = append(ids, *s)
		}
	}
	return ids
}

// RefundSeats returns the seats that refunding the tickets refunded gives
// back: one per ticket sold for a showing, on the showing's counter and,
// when it limits buyers, its buyer's, summed per counter. tickets holds the
// refunded tickets, showings every showing RefundShowings names; it fails
// when one is missing.
func RefundSeats(refunded []string, tickets map[string]Ticket, showings map[string]*Showing) (SeatChanges, error) {
	var seats SeatChanges
	for _, id := range refunded {
		t := tickets[id]
		if t.ShowingID == nil {
			continue
		}
		s := showings[*t.ShowingID]
		if !s.Exists() {
			return SeatChanges{}, fmt.Errorf("refund of ticket %s: its showing %s is not given", id, *t.ShowingID)
		}
		for _, c := range s.claims(t.UserID, -1) {
			if i := slices.IndexFunc(seats.Claims, func(have SeatClaim) bool { return have.Counter == c.Counter }); i >= 0 {
				seats.Claims[i].Amount--
			} else {
				seats.Claims = append(seats.Claims, c)
			}
		}
	}
	return seats, nil
}

// between adds a violation of field when n is outside [lo, hi].
func between(v *Violations, field string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.Add(field, fmt.Sprintf("must be between %d and %d", lo, hi))
	}
}
