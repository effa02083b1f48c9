package projections

import (
	"context"
	"fmt"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ProblemSeatsExceeded is the kind of eventstore.Problem CheckSeats reports:
// at its position a showing had more seats sold and held than its capacity,
// or a buyer more than its per-buyer limit.
const ProblemSeatsExceeded = "seats_exceeded"

// seatTypes are the types of the events that take or give back seats.
var seatTypes = []string{domain.TypeShowingScheduled, domain.TypeSeatsHeld, domain.TypeHoldReleased, domain.TypeHoldExpired,
	domain.TypeTicketIssued, domain.TypeTicketRefunded}

// CheckSeats folds the log up to its head with domain.SeatLedger and
// returns the first position that breaks the invariant of showings, as a
// ProblemSeatsExceeded problem; none for a log without showings, which it
// does not read beyond finding that. progress, when set, gets the position
// reached. It fails when the log cannot be read or an event decoded.
func CheckSeats(ctx context.Context, log Log, progress func(pos int64)) (eventstore.Problems, error) {
	problems := eventstore.Problems{List: []eventstore.Problem{}}
	_, v, err := foldSeats(ctx, log, true, progress)
	if v != nil {
		problems.Add(eventstore.Problem{Kind: ProblemSeatsExceeded, Position: v.Position, StreamID: v.ShowingID, Detail: v.Error()})
	}
	return problems, err
}

// FoldSeats folds the log up to its head into a domain.SeatLedger, whose
// Counts are what the log's counters hold after it (see app.RestoreSeats).
// It fails when the log cannot be read or an event decoded.
func FoldSeats(ctx context.Context, log Log) (*domain.SeatLedger, error) {
	ledger, _, err := foldSeats(ctx, log, false, nil)
	return ledger, err
}

// foldSeats folds the log up to its head into a SeatLedger, which it
// returns with the first violation of the invariant; with stop it returns
// at that violation. A log without showings is not read beyond finding
// that.
func foldSeats(ctx context.Context, log Log, stop bool, progress func(pos int64)) (*domain.SeatLedger, *domain.SeatViolation, error) {
	ledger := domain.NewSeatLedger()
	if first, err := log.ReadAll(ctx, 0, 1, domain.TypeShowingScheduled); err != nil || len(first) == 0 {
		return ledger, nil, err
	}
	var violation *domain.SeatViolation
	head := log.Head()
	for records, err := range logChunks(ctx, log, 0, head, rebuildChunk, seatTypes...) {
		if err != nil {
			return ledger, violation, err
		}
		for _, r := range records {
			e, err := r.Event()
			if err != nil {
				return ledger, violation, fmt.Errorf("event %d: %w", r.Position, err)
			}
			if v := ledger.Next(r.Position, r.StreamID, e, r.OccurredAt); v != nil && violation == nil {
				violation = v
				if stop {
					return ledger, violation, nil
				}
			}
		}
		if progress != nil {
			progress(records[len(records)-1].Position)
		}
	}
	return ledger, violation, nil
}
