package app

import (
	"context"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Scheduled is the result of a schedule: the new showing, as folded from
// its first event.
type Scheduled struct {
	Showing domain.Showing
}

// ScheduleShowing schedules cmd's showing under a fresh id and answers
// through answers. It fails with the domain's CodeInvalid error when cmd
// breaks its rules (starts_at must be later than the commands' clock),
// with a *KeyReusedError for a reused key, and with the log's errors.
func (c *Commands) ScheduleShowing(ctx context.Context, req Request, cmd domain.ScheduleShowing, answers AnswerEncoder[Scheduled]) (Outcome[Scheduled], error) {
	return run(ctx, c.log, req, cmd, answers, func(context.Context) (Decision[Scheduled], error) {
		now := c.now()
		s, err := domain.Schedule(cmd, now, c.newID)
		if err != nil {
			return Decision[Scheduled]{}, err
		}
		var showing domain.Showing
		showing.Evolve(s.ID, s.Event, now)
		return Decision[Scheduled]{
			Append: eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: s.ID, Events: []domain.Event{s.Event}}}},
			Result: Scheduled{Showing: showing},
		}, nil
	})
}
