package app

import (
	"context"
	"errors"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ReleaseHold releases hold id, giving its seats back, and answers through
// answers with the hold: released, or as it was when it had ended already
// (released or expired; nothing is appended then). HoldReleased is
// appended at any version of the showing's stream: the log's reservation
// of the hold decides whether it is still there to release. It fails with a
// CodeNotFound error for an unknown hold, RuleHoldUsed for one turned into
// tickets, a *KeyReusedError for a reused key, and the log's errors.
func (c *Commands) ReleaseHold(ctx context.Context, req Request, id string, answers AnswerEncoder[domain.Hold]) (Outcome[domain.Hold], error) {
	parsed := struct{ HoldID string }{id}
	return run(ctx, c.log, req, parsed, answers, func(ctx context.Context) (Decision[domain.Hold], error) {
		s, err := c.showingOfHold(ctx, id)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		r, err := domain.ReleaseHold(s, id, c.now())
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		return releaseDecision(s, r), nil
	})
}

// releaseDecision is the append and result of release r of a hold of s;
// when the log refuses it because the hold was released or expired
// meanwhile, it is answered so with nothing appended.
func releaseDecision(s *domain.Showing, r domain.HoldRelease) Decision[domain.Hold] {
	d := Decision[domain.Hold]{Result: r.Hold}
	if r.Event == nil {
		return d
	}
	d.Append = toShowing(s, *r.Event, r.Seats)
	d.Refused = func(err error) (Decision[domain.Hold], error) {
		var refused *eventstore.ReservationError
		if !errors.As(err, &refused) {
			return Decision[domain.Hold]{}, err
		}
		again, err := r.Refused(refused.State)
		if err != nil {
			return Decision[domain.Hold]{}, err
		}
		return releaseDecision(s, again), nil
	}
	return d
}
