package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// loadShowing folds the stream of showing id (an id that is no UUID names
// none) into its state, which does not exist when it was never scheduled.
// Holds of it that were bought are active in it: the log refuses to settle
// them again (see seatsRefused).
func (c *Commands) loadShowing(ctx context.Context, id string) (*domain.Showing, error) {
	s := &domain.Showing{}
	if !domain.IsTicketID(id) {
		return s, nil
	}
	records, err := c.log.ReadStream(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		e, err := r.Event()
		if err != nil {
			return nil, fmt.Errorf("event at position %d: %w", r.Position, err)
		}
		s.Evolve(r.StreamID, e, r.OccurredAt)
	}
	return s, nil
}

// schedule returns showing id as scheduled, its holds left out (a showing
// that does not exist when it was never scheduled): a showing's schedule
// never changes, so each is read from the log once.
func (c *Commands) schedule(ctx context.Context, id string) (*domain.Showing, error) {
	if s, ok := c.schedules.Load(id); ok {
		return s.(*domain.Showing), nil
	}
	s, err := c.loadShowing(ctx, id)
	if err != nil || !s.Exists() {
		return s, err
	}
	scheduled := *s
	scheduled.Holds = nil
	c.schedules.Store(id, &scheduled)
	return &scheduled, nil
}

// showingOfHold returns the schedule of the showing hold id belongs to with
// that hold alone, as the HoldFinder has it, or a showing that does not
// exist when no committed hold has that id. It reads no stream but a
// showing's first, once (see schedule).
func (c *Commands) showingOfHold(ctx context.Context, id string) (*domain.Showing, error) {
	if c.holds == nil || !domain.IsTicketID(id) {
		return &domain.Showing{}, nil
	}
	h, found, err := c.holds.FindHold(ctx, id)
	if err != nil || !found {
		return &domain.Showing{}, err
	}
	scheduled, err := c.schedule(ctx, h.ShowingID)
	if err != nil || !scheduled.Exists() {
		return &domain.Showing{}, err
	}
	s := *scheduled
	s.Holds = map[string]domain.Hold{id: h}
	return &s, nil
}

// toShowing appends e to the stream of showing s at any version: the
// append's seats, decided by the log, are what must not race, not the
// showing's events.
func toShowing(s *domain.Showing, e domain.Event, seats domain.SeatChanges) eventstore.AppendRequest {
	return withSeats(eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
		{StreamID: s.ID, ExpectedVersion: eventstore.AnyVersion, Events: []domain.Event{e}}}}, seats)
}

// withSeats returns req with seats handed to the log as its claims,
// reservations, settlements and releases.
func withSeats(req eventstore.AppendRequest, seats domain.SeatChanges) eventstore.AppendRequest {
	req.Claims = claimsOf(seats.Claims)
	for _, r := range seats.Reserve {
		req.Reserve = append(req.Reserve, eventstore.Reservation{ID: r.ID, ExpiresAt: r.ExpiresAt, Claims: claimsOf(r.Claims)})
	}
	for _, id := range seats.Settle {
		req.Settle = append(req.Settle, eventstore.Settle{ReservationID: id})
	}
	for _, id := range seats.Release {
		req.Release = append(req.Release, eventstore.Release{ReservationID: id})
	}
	return req
}

// RestoreSeats hands the log's counters and reservations the state counts
// of a folded log (domain.SeatLedger.Counts), replacing theirs: after a log
// was loaded without appends (an import), its counters then decide the next
// sales as they would have where the log was written.
func RestoreSeats(ctx context.Context, store eventstore.ClaimRestorer, counts domain.SeatCounts) error {
	state := eventstore.ClaimState{Used: counts.Used, Reservations: make([]eventstore.ReservationState, len(counts.Holds))}
	for i, h := range counts.Holds {
		state.Reservations[i] = eventstore.ReservationState{
			Reservation: eventstore.Reservation{ID: h.ID, ExpiresAt: h.ExpiresAt, Claims: claimsOf(h.Claims)},
			State:       reservationStates[h.Status],
		}
	}
	return store.RestoreClaims(ctx, state)
}

// reservationStates are the states of a hold's reservation by the hold's
// status in the log.
var reservationStates = map[domain.HoldStatus]string{
	domain.HoldStatusActive:   eventstore.ReservationLive,
	domain.HoldStatusUsed:     eventstore.ReservationSettled,
	domain.HoldStatusReleased: eventstore.ReservationReleased,
	domain.HoldStatusExpired:  eventstore.ReservationExpired,
}

func claimsOf(seats []domain.SeatClaim) []eventstore.Claim {
	var claims []eventstore.Claim
	for _, c := range seats {
		claims = append(claims, eventstore.Claim{Counter: c.Counter, Limit: c.Limit, Amount: c.Amount})
	}
	return claims
}

// seatsRefused maps the log's refusal of a decision's seats to the domain's
// error: a claim refused is sold-out or limit-exceeded, a hold's
// reservation refused is hold-expired, hold-released or hold-used.
func seatsRefused[R any](err error) (Decision[R], error) {
	var limit *eventstore.LimitError
	var reservation *eventstore.ReservationError
	switch {
	case errors.As(err, &limit):
		return Decision[R]{}, domain.ClaimRefused(limit.Counter, limit.Limit, limit.Used)
	case errors.As(err, &reservation):
		return Decision[R]{}, domain.HoldRefused(reservation.ID, reservation.State)
	}
	return Decision[R]{}, err
}
