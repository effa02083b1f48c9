package app

import (
	"context"
	"errors"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ExpireHold appends HoldExpired for hold id, with the release of its
// reservation, at any version of its showing's stream, when the hold is
// past its expiry at the commands' clock and has not ended as far as the
// HoldFinder knows; expired says whether it did. A hold bought or released
// meanwhile (the log refuses the release) is left as it is. It fails with
// the HoldFinder's and the log's errors.
func (c *Commands) ExpireHold(ctx context.Context, id string) (expired bool, err error) {
	s, err := c.showingOfHold(ctx, id)
	if err != nil {
		return false, err
	}
	e, seats, ok := domain.ExpireHold(s, id, c.now())
	if !ok {
		return false, nil
	}
	_, err = c.log.Append(ctx, toShowing(s, e, seats))
	var refused *eventstore.ReservationError
	if errors.As(err, &refused) {
		return false, nil
	}
	return err == nil, err
}
