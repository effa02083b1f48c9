package domain

import (
	"fmt"
	"strings"
	"time"
)

// Seats are decided by the log, not here: a decision hands the log bounded
// counters to claim and reservations to take, settle or release, appended
// with its events all or nothing, where appends serialize. The log knows
// nothing of showings; these counters are how the domain maps seats to it:
//
//   - ShowingCounter(id), bounded by the showing's capacity, counts its
//     seats sold (not refunded) plus those of its live holds;
//   - BuyerCounter(id, user), bounded by the showing's per-buyer limit and
//     claimed only when it has one, counts the same for one buyer.
//
// A hold is a reservation of both under the hold's id, live until its
// ExpiresAt; buying on it settles that reservation; releasing or expiring it
// releases it; a refund claims -1 seat of both.

// ShowingCounter returns the counter of the seats of showing id.
func ShowingCounter(id string) string { return "showing/" + id }

// BuyerCounter returns the counter of the seats of showing id that user holds or bought.
func BuyerCounter(id, user string) string { return "showing/" + id + "/buyer/" + user }

// ParseCounter returns the showing and, for a BuyerCounter, the user a
// counter counts for; ok is false for a name neither function makes.
// Showing ids are UUIDs, so the first "/" after the id ends it.
func ParseCounter(counter string) (showingID, user string, ok bool) {
	rest, ok := strings.CutPrefix(counter, "showing/")
	if !ok {
		return "", "", false
	}
	showingID, rest, buyer := strings.Cut(rest, "/")
	if !buyer {
		return showingID, "", showingID != ""
	}
	user, ok = strings.CutPrefix(rest, "buyer/")
	return showingID, user, ok && showingID != ""
}

// SeatClaim asks the log for Amount of Counter, bounded by Limit: it holds
// when the counter's used amount plus Amount is at most Limit. A negative
// Amount gives seats back and always holds.
type SeatClaim struct {
	Counter string
	Limit   int64
	Amount  int64
}

// HoldReservation takes its claims' amounts under the hold's ID until
// ExpiresAt, unless it is settled or released before.
type HoldReservation struct {
	ID        string
	ExpiresAt time.Time
	Claims    []SeatClaim
}

// SeatChanges is what a decision asks of the log's counters, to be appended
// with its events all or nothing. Adapters hand each part to the log as its
// like: Claims as claims, Reserve as reservations, Settle and Release as
// the settlement (of the reservation's own claims) and release of the
// reservations of those hold ids. The zero value asks nothing.
type SeatChanges struct {
	Claims  []SeatClaim
	Reserve []HoldReservation
	Settle  []string
	Release []string
}

// claims returns the claims of quantity seats of s for user (negative to
// give them back).
func (s *Showing) claims(user string, quantity int64) []SeatClaim {
	c := []SeatClaim{{Counter: ShowingCounter(s.ID), Limit: s.Capacity, Amount: quantity}}
	if s.PerBuyerLimit != nil {
		c = append(c, SeatClaim{Counter: BuyerCounter(s.ID, user), Limit: *s.PerBuyerLimit, Amount: quantity})
	}
	return c
}

// ClaimRefused returns the error a command fails with when the log refuses
// its claim on counter, which had used of its limit: RuleSoldOut with the
// seats available for a showing's counter, RuleLimitExceeded with the limit
// and the seats the buyer has bought or holds for a buyer's counter. A
// counter no showing names gives an internal error.
func ClaimRefused(counter string, limit, used int64) error {
	_, user, ok := ParseCounter(counter)
	switch {
	case !ok:
		return fmt.Errorf("claim on %q refused: no showing counts with it", counter)
	case user == "":
		available := max(limit-used, 0)
		return &Error{Code: CodeConflict, Rule: RuleSoldOut, Facts: map[string]int64{"available": available},
			Message: fmt.Sprintf("Sold out: %d seats are available.", available)}
	default:
		return &Error{Code: CodeConflict, Rule: RuleLimitExceeded, Facts: map[string]int64{"limit": limit, "bought": used},
			Message: fmt.Sprintf("This buyer has %d seats of this showing, and a buyer may have at most %d.", used, limit)}
	}
}

// Reservation states the log reports for a hold it refuses to settle or
// release.
const (
	ReservationExpired  = "expired"
	ReservationReleased = "released"
	ReservationSettled  = "settled"
	ReservationUnknown  = "unknown"
)

// HoldRefused returns the error a command fails with when the log refuses to
// settle or release the hold id because its reservation is in state:
// RuleHoldExpired, RuleHoldReleased or RuleHoldUsed. A state the log should
// never report for a hold the showing has (unknown) gives an internal error.
func HoldRefused(id, state string) error {
	switch state {
	case ReservationExpired:
		return holdError(RuleHoldExpired, "The hold %s has expired.", id)
	case ReservationReleased:
		return holdError(RuleHoldReleased, "The hold %s was released.", id)
	case ReservationSettled:
		return holdError(RuleHoldUsed, "The hold %s was already turned into tickets.", id)
	}
	return fmt.Errorf("hold %s refused by the log as %q", id, state)
}

// holdEnded returns the error of buying on a hold that is no longer active.
func holdEnded(h Hold, status HoldStatus) error {
	switch status {
	case HoldStatusExpired:
		return HoldRefused(h.ID, ReservationExpired)
	case HoldStatusReleased:
		return HoldRefused(h.ID, ReservationReleased)
	}
	return HoldRefused(h.ID, ReservationSettled)
}

func holdError(rule Rule, format, id string) *Error {
	return &Error{Code: CodeConflict, Rule: rule, Message: fmt.Sprintf(format, id)}
}
