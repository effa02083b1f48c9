package service

import (
	"context"
	"slices"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// expiryPoll is how often the leader looks for holds past their expiry;
// with expiryBatch per look, HoldExpired follows expires_at within the
// contract's 5 seconds.
const (
	expiryPoll  = time.Second
	expiryBatch = 500
)

// expireHolds appends HoldExpired for every hold past its expiry that the
// log has not ended, every expiryPoll until ctx ends: the log's expired
// reservations name the holds, their claims the showing. A hold bought or
// released meanwhile is skipped (see app.Commands.ExpireHold). A leader's
// duty: one instance appends each HoldExpired.
func (s *Service) expireHolds(ctx context.Context) {
	tick := time.NewTicker(expiryPoll)
	defer tick.Stop()
	for {
		if err := s.expireDue(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("expiring holds failed; retrying", "error", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// expireDue expires the holds past their expiry now, expiryBatch at a
// time, and returns the first error.
func (s *Service) expireDue(ctx context.Context) error {
	for {
		due, err := s.store.ExpiredReservations(ctx, s.cfg.Now(), expiryBatch)
		if err != nil {
			return err
		}
		expired := 0
		for _, r := range due {
			if !slices.ContainsFunc(r.Claims, func(c eventstore.Claim) bool {
				_, user, ok := domain.ParseCounter(c.Counter)
				return ok && user == ""
			}) {
				continue // no showing's hold: not this duty's
			}
			ok, err := s.commands.ExpireHold(ctx, r.ID)
			if err != nil {
				return err
			}
			if ok {
				expired++
			}
		}
		if len(due) < expiryBatch || expired == 0 {
			return nil
		}
	}
}
