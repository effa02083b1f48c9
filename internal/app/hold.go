package app

import (
	"context"

	"github.com/ticketd/ticketd/domain"
)

// HoldSeats holds cmd's seats of showing showingID under a fresh hold id,
// and answers through answers with the hold. It reads the showing's
// schedule alone and appends SeatsHeld at any version of the showing's
// stream, so concurrent holds never conflict: the log's reservation decides
// the seats. It fails with the domain's CodeInvalid error when cmd breaks
// its rules, CodeNotFound for an unknown showing, RuleSalesClosed,
// RuleSoldOut and RuleLimitExceeded errors, a *KeyReusedError for a reused
// key, and the log's errors.
func (c *Commands) HoldSeats(ctx context.Context, req Request, showingID string, cmd domain.HoldSeats, answers AnswerEncoder[domain.Hold]) (Outcome[domain.Hold], error) {
	parsed := struct {
		ShowingID string
		domain.HoldSeats
	}{showingID, cmd}
	return run(ctx, c.log, req, parsed, answers, func(ctx context.Context) (Decision[domain.Hold], error) {
		s, err := c.schedule(ctx, showingID)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		h, err := domain.TakeHold(cmd, s, c.now(), c.newID)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		return Decision[domain.Hold]{Append: toShowing(s, h.Event, h.Seats), Result: h.Hold, Refused: seatsRefused[domain.Hold]}, nil
	})
}
