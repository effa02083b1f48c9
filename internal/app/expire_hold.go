package app

import (
	"context"
	"errors"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ExpireHold appends HoldExpired for hold id of showing showingID, with the
// release of its reservation, when the hold is past its expiry at the
// commands' clock and the log has not ended it; expired says whether it
// did. A hold bought or released meanwhile (the log refuses the release)
// is left as it is. It fails with the log's errors, and with a
// CodeUnavailable error after maxAttempts lost races for the showing's
// stream.
func (c *Commands) ExpireHold(ctx context.Context, showingID, id string) (expired bool, err error) {
	for attempt := 1; ; attempt++ {
		s, err := c.loadShowing(ctx, showingID)
		if err != nil {
			return false, err
		}
		e, seats, ok := domain.ExpireHold(s, id, c.now())
		if !ok {
			return false, nil
		}
		_, err = c.log.Append(ctx, withSeats(eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
			{StreamID: s.ID, ExpectedVersion: s.Version, Events: []domain.Event{e}}}}, seats))
		var refused *eventstore.ReservationError
		switch {
		case errors.As(err, &refused):
			return false, nil
		case errors.Is(err, eventstore.ErrConcurrency) && attempt < maxAttempts:
			continue
		case errors.Is(err, eventstore.ErrConcurrency):
			return false, domain.Errorf(domain.CodeUnavailable, "Too many requests are changing the same showing at once; retry.")
		}
		return err == nil, err
	}
}
