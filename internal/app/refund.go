package app

import (
	"context"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Refund refunds cmd's tickets that are issued, reporting the others, and
// answers through answers. It fails as Issue does, and with a
// CodeUnavailable error when it lost the race for its tickets too often.
func (c *Commands) Refund(ctx context.Context, req Request, cmd domain.RefundTickets, answers AnswerEncoder[domain.RefundDecision]) (Outcome[domain.RefundDecision], error) {
	return run(ctx, c.log, req, cmd, answers, func(ctx context.Context) (Decision[domain.RefundDecision], error) {
		return c.DecideRefund(ctx, cmd)
	})
}

// OnRefundRead has fn called with every existing ticket a refund decision
// reads from the log, as folded, and the position of its issue, before the
// decision's append (which may still fail), so a read model that needs the
// same facts again need not read them; fn must be safe for concurrent use
// and quick. Call it before the first command.
func (c *Commands) OnRefundRead(fn func(t domain.Ticket, issuePosition int64)) { c.onRefundRead = fn }

// DecideRefund loads the current state of every named ticket (every id
// domain.IsTicketID accepts; the others name none) and returns
// the append (expecting the versions it saw, and giving back the seats of
// the tickets sold for a showing) and result of a refund command, or the domain's CodeInvalid error when cmd breaks its rules, or
// the log's errors.
func (c *Commands) DecideRefund(ctx context.Context, cmd domain.RefundTickets) (Decision[domain.RefundDecision], error) {
	tickets := make(map[string]domain.Ticket)
	for _, id := range cmd.DistinctIDs() {
		if !domain.IsTicketID(id) {
			continue // not found; and no engine need store what it cannot hold (NUL on PostgreSQL)
		}
		records, err := c.log.ReadStream(ctx, id)
		if err != nil {
			return Decision[domain.RefundDecision]{}, err
		}
		t, err := eventstore.Fold(records)
		if err != nil {
			return Decision[domain.RefundDecision]{}, err
		}
		if t.Exists() {
			tickets[id] = t
			if c.onRefundRead != nil {
				c.onRefundRead(t, records[0].Position)
			}
		}
	}
	d, err := domain.Refund(cmd, tickets)
	if err != nil {
		return Decision[domain.RefundDecision]{}, err
	}
	req := eventstore.AppendRequest{Streams: make([]eventstore.StreamAppend, len(d.Refunded))}
	for i, id := range d.Refunded {
		req.Streams[i] = eventstore.StreamAppend{StreamID: id, ExpectedVersion: tickets[id].Version, Events: []domain.Event{d.Events[i]}}
	}
	showings := map[string]*domain.Showing{}
	for _, id := range domain.RefundShowings(d.Refunded, tickets) {
		if showings[id], err = c.schedule(ctx, id); err != nil {
			return Decision[domain.RefundDecision]{}, err
		}
	}
	seats, err := domain.RefundSeats(d.Refunded, tickets, showings)
	if err != nil {
		return Decision[domain.RefundDecision]{}, err
	}
	return Decision[domain.RefundDecision]{Append: withSeats(req, seats), Result: d}, nil
}
