package app

import (
	"context"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Issued is the result of an issue: the new tickets' ids in issue order,
// and the event that opened each of them (the same for all).
type Issued struct {
	TicketIDs []string
	Ticket    domain.TicketIssued
}

// Issue issues cmd's tickets, all or none, and answers through answers. It
// fails with the domain's CodeInvalid error when cmd breaks its rules, with
// a *KeyReusedError for a reused key, and with the log's errors.
func (c *Commands) Issue(ctx context.Context, req Request, cmd domain.IssueTickets, answers AnswerEncoder[Issued]) (Outcome[Issued], error) {
	return run(ctx, c.log, req, cmd, answers, func(context.Context) (Decision[Issued], error) { return c.DecideIssue(cmd) })
}

// DecideIssue returns the append and result of an issue command, each
// ticket a new stream under a fresh id, or the domain's CodeInvalid error
// when cmd breaks its rules. It reads nothing.
func (c *Commands) DecideIssue(cmd domain.IssueTickets) (Decision[Issued], error) {
	tickets, err := domain.Issue(cmd, c.newID)
	if err != nil {
		return Decision[Issued]{}, err
	}
	d := Decision[Issued]{
		Append: eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(tickets))},
		Result: Issued{TicketIDs: make([]string, len(tickets)), Ticket: tickets[0].Event},
	}
	for i, t := range tickets {
		d.Result.TicketIDs[i] = t.ID
		d.Append.Streams[i] = eventstore.StreamAppend{StreamID: t.ID, ExpectedVersion: 0, Events: []domain.Event{t.Event}}
	}
	return d, nil
}

// IssueForShowing issues cmd's tickets against the showing its ShowingID
// names or the hold its HoldID names, all or none, and answers through
// answers; its idempotency keys are Issue's. It fails with the domain's
// CodeInvalid error when cmd breaks its rules (also naming an unknown
// showing_id or hold_id), with RuleSalesClosed, RuleSoldOut,
// RuleLimitExceeded, RuleHoldExpired, RuleHoldReleased and RuleHoldUsed
// errors, a *KeyReusedError for a reused key, and the log's errors.
func (c *Commands) IssueForShowing(ctx context.Context, req Request, cmd domain.IssueShowingTickets, answers AnswerEncoder[Issued]) (Outcome[Issued], error) {
	return run(ctx, c.log, req, cmd, answers, func(ctx context.Context) (Decision[Issued], error) {
		s := &domain.Showing{}
		var err error
		switch {
		case cmd.ShowingID != nil && cmd.HoldID != nil:
		case cmd.ShowingID != nil:
			s, err = c.schedule(ctx, *cmd.ShowingID)
		case cmd.HoldID != nil:
			s, err = c.showingOfHold(ctx, *cmd.HoldID)
		}
		if err != nil {
			return Decision[Issued]{}, err
		}
		sale, err := domain.IssueForShowing(cmd, s, c.now(), c.newID)
		if err != nil {
			return Decision[Issued]{}, err
		}
		d := Decision[Issued]{
			Append:  withSeats(eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(sale.Tickets))}, sale.Seats),
			Result:  Issued{TicketIDs: make([]string, len(sale.Tickets)), Ticket: sale.Tickets[0].Event},
			Refused: seatsRefused[Issued],
		}
		for i, t := range sale.Tickets {
			d.Result.TicketIDs[i] = t.ID
			d.Append.Streams[i] = eventstore.StreamAppend{StreamID: t.ID, Events: []domain.Event{t.Event}}
		}
		return d, nil
	})
}
