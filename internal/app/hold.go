package app

import (
	"context"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// HoldSeats holds cmd's seats of showing showingID under a fresh hold id,
// and answers through answers with the hold. It fails with the domain's
// CodeInvalid error when cmd breaks its rules, CodeNotFound for an unknown
// showing, RuleSalesClosed, RuleSoldOut and RuleLimitExceeded errors, a
// *KeyReusedError for a reused key, and the log's errors.
func (c *Commands) HoldSeats(ctx context.Context, req Request, showingID string, cmd domain.HoldSeats, answers AnswerEncoder[domain.Hold]) (Outcome[domain.Hold], error) {
	parsed := struct {
		ShowingID string
		domain.HoldSeats
	}{showingID, cmd}
	return run(ctx, c.log, req, parsed, answers, func(ctx context.Context) (Decision[domain.Hold], error) {
		s, err := c.loadShowing(ctx, showingID)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		h, err := domain.TakeHold(cmd, s, c.now(), c.newID)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		return Decision[domain.Hold]{
			Append: withSeats(eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
				{StreamID: s.ID, ExpectedVersion: s.Version, Events: []domain.Event{h.Event}}}}, h.Seats),
			Result:  h.Hold,
			Refused: seatsRefused[domain.Hold],
		}, nil
	})
}

// hold returns the showing of hold id, folded from its stream, and the hold
// as that stream has it, or a CodeNotFound error for a hold the log has
// not committed. A hold bought is active in it (its tickets are in their
// own streams): the log refuses to settle or release it.
func (c *Commands) hold(ctx context.Context, id string) (*domain.Showing, domain.Hold, error) {
	s, err := c.showingOfHold(ctx, id)
	if err != nil {
		return nil, domain.Hold{}, err
	}
	h, ok := s.Holds[id]
	if !ok {
		return nil, domain.Hold{}, domain.Errorf(domain.CodeNotFound, "No such hold.")
	}
	return s, h, nil
}
