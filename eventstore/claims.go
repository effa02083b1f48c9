package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/domain"
)

// Bounded counters with expiring reservations are the one decision an
// engine makes for its callers besides stream versions: an append may claim
// amounts of named counters, each bounded by a limit, and may take, settle
// and release reservations of such amounts. Engines decide them where
// appends serialize, in the append's own transaction, so a decision is
// exact across every writer of the database and costs no retry; they know
// nothing of what a counter counts.
//
// A counter's used amount is its settled amount (claims and settled
// reservations, refunds subtracted) plus the amounts of its live
// reservations. A reservation is live until it is released or settled, and
// only while the deciding clock is before its ExpiresAt: from that instant
// its amounts are free again, whether or not it has been released. The
// deciding clock is the append's commit time, the OccurredAt of its events.
//
// An append applies its parts in this order, each seeing the effect of the
// ones before: Release, Settle, Claims, Reserve. Either every part holds and
// the append commits with its events and idempotency record, or it fails
// with *LimitError, *ReservationError or *ReservationExistsError having
// written nothing, and the appends it shares a group commit with are
// unaffected. A stream not at its expected version or a taken idempotency
// key is reported before any claim is decided.

// Claim asks for Amount of the counter named Counter, whose bound is Limit:
// it holds when used(Counter) + Amount <= Limit. A negative Amount gives back
// (a refund) and always holds. Counter names are opaque to engines; the
// JSON form is how engines store a claim.
type Claim struct {
	Counter string `json:"counter"`
	Limit   int64  `json:"limit"`
	Amount  int64  `json:"amount"`
}

// Reservation takes its claims' amounts from the append that reserves it
// until ExpiresAt, or until it is settled or released. ID is the caller's,
// unique for the database; its claims' amounts must not be negative.
type Reservation struct {
	ID        string
	ExpiresAt time.Time
	Claims    []Claim
}

// Settle turns the live reservation ReservationID into settled usage: its
// amounts are freed and Claims, each checked against its limit, become
// permanent; with no Claims, the reservation's own claims do. It fails with
// a *ReservationError when the reservation is expired, released, settled or
// unknown.
type Settle struct {
	ReservationID string
	Claims        []Claim
}

// Release frees the reservation ReservationID. A reservation that expired
// but was neither released nor settled may be released (it freed its
// amounts at expiry already) and is expired from then on. It fails with a
// *ReservationError when the reservation is released, settled, expired and
// released, or unknown.
type Release struct {
	ReservationID string
}

// States a *ReservationError reports.
const (
	ReservationExpired  = "expired"
	ReservationReleased = "released"
	ReservationSettled  = "settled"
	ReservationUnknown  = "unknown"
)

// LimitError refuses an append whose claim on Counter would pass Limit;
// Used is what the counter had used before it (settled plus live
// reservations, with the effect of the append's earlier parts).
type LimitError struct {
	Counter     string
	Limit, Used int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("counter %q is at %d of its limit %d: the claim does not fit", e.Counter, e.Used, e.Limit)
}

// ReservationExistsError refuses an append that reserves under an ID a
// reservation of the database already has.
type ReservationExistsError struct {
	ID string
}

func (e *ReservationExistsError) Error() string {
	return fmt.Sprintf("reservation %q exists already", e.ID)
}

// ReservationError refuses an append that settles or releases the
// reservation ID, which is in State (one of the Reservation* states).
type ReservationError struct {
	ID    string
	State string
}

func (e *ReservationError) Error() string {
	return fmt.Sprintf("reservation %q is %s", e.ID, e.State)
}

// ReservationReader reads reservations, for the duty that releases expired
// ones.
type ReservationReader interface {
	// ExpiredReservations returns up to limit reservations that expired at
	// or before before and are neither released nor settled, in order of
	// ExpiresAt then ID, each with its claims.
	ExpiredReservations(ctx context.Context, before time.Time, limit int) ([]Reservation, error)
}

// HasClaims reports whether req claims, reserves, settles or releases
// anything.
func (req AppendRequest) HasClaims() bool {
	return len(req.Claims) > 0 || len(req.Reserve) > 0 || len(req.Settle) > 0 || len(req.Release) > 0
}

// CheckClaims returns an error naming the first malformed claim of req: a
// counter without a name, a negative limit, a reservation without an ID or
// an expiry, or a negative amount in a reservation or a settlement. Engines
// call it before they queue the append.
func (req AppendRequest) CheckClaims() error {
	var errs []error
	checkAll := func(where string, claims []Claim, negativeOK bool) {
		for i, c := range claims {
			switch {
			case c.Counter == "":
				errs = append(errs, fmt.Errorf("%s claim %d has no counter", where, i))
			case c.Limit < 0:
				errs = append(errs, fmt.Errorf("%s claim %d on %q has a negative limit", where, i, c.Counter))
			case c.Amount < 0 && !negativeOK:
				errs = append(errs, fmt.Errorf("%s claim %d on %q has a negative amount", where, i, c.Counter))
			}
		}
	}
	checkAll("append", req.Claims, true)
	for _, r := range req.Reserve {
		if r.ID == "" || r.ExpiresAt.IsZero() {
			errs = append(errs, fmt.Errorf("reservation %q needs an id and an expiry", r.ID))
		}
		checkAll("reservation "+r.ID, r.Claims, false)
	}
	for _, s := range req.Settle {
		if s.ReservationID == "" {
			errs = append(errs, errors.New("a settlement names no reservation"))
		}
		checkAll("settlement of "+s.ReservationID, s.Claims, false)
	}
	for _, r := range req.Release {
		if r.ReservationID == "" {
			errs = append(errs, errors.New("a release names no reservation"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("append: %w", errors.Join(errs...))
	}
	return nil
}

// ReservationLive is the state of a reservation that was neither released
// nor settled (it may have expired by the clock since).
const ReservationLive = "live"

// ReservationState is a reservation with its state: ReservationLive or one
// of the Reservation* states a *ReservationError reports (not unknown).
type ReservationState struct {
	Reservation
	State string
}

// ClaimState is the whole state of a database's counters and reservations:
// Used is each counter's settled amount, Reservations every reservation.
type ClaimState struct {
	Used         map[string]int64
	Reservations []ReservationState
}

// ClaimRestorer restores counters and reservations of a log that was loaded
// without appends (Import), whose events carried no claims.
type ClaimRestorer interface {
	// RestoreClaims replaces every counter and reservation of the database
	// with state, all or nothing, serialized with the appends (a
	// reservation live in state counts for its counters until its
	// ExpiresAt). It fails naming the first reservation with a state not
	// listed above.
	RestoreClaims(ctx context.Context, state ClaimState) error
}

// Check returns an error naming the first reservation of state whose state
// is not live, released, settled or expired. Engines call it before they
// write state.
func (state ClaimState) Check() error {
	for _, r := range state.Reservations {
		switch r.State {
		case ReservationLive, ReservationReleased, ReservationSettled, ReservationExpired:
		default:
			return fmt.Errorf("restore claims: reservation %q has state %q", r.ID, r.State)
		}
	}
	return nil
}

// DecodeReservation is a reservation as an engine stores it: its id, its
// expires_at in domain.FormatTime's form and its claims as JSON.
func DecodeReservation(id, expiresAt, claims string) (Reservation, error) {
	r := Reservation{ID: id}
	var err error
	if r.ExpiresAt, err = domain.ParseTime(expiresAt); err != nil {
		return Reservation{}, fmt.Errorf("reservation %q: expires_at: %w", id, err)
	}
	if err := json.Unmarshal([]byte(claims), &r.Claims); err != nil {
		return Reservation{}, fmt.Errorf("reservation %q: stored claims: %w", id, err)
	}
	return r, nil
}
