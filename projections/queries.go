package projections

import (
	"context"
	"fmt"

	"github.com/ticketd/ticketd/domain"
)

// Filter selects tickets by exact field values; an empty field matches all.
type Filter struct {
	TheaterName string
	UserID      string
	MovieTitle  string
	Status      domain.Status
	Limit       int
	Offset      int
}

// Page is one page of a list query: the tickets in issue order and the
// number of all matches before paging.
type Page struct {
	Tickets []domain.Ticket
	Total   int64
}

// Get returns the ticket with the given id, or a CodeNotFound *domain.Error.
func (t *Tickets) Get(ctx context.Context, id string) (domain.Ticket, error) {
	t.viewMu.RLock()
	defer t.viewMu.RUnlock()
	if ticket, ok := t.cache.get(id); ok {
		return ticket, nil
	}
	ticket, found, err := t.table.Get(ctx, id)
	switch {
	case err != nil:
		return domain.Ticket{}, err
	case !found:
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id)
	}
	t.cache.put(ticket)
	return ticket, nil
}

// List returns the page of tickets matching f, oldest issue first, and the
// total number of matches. The page and the total come from one state of the
// table: no apply happens in between.
func (t *Tickets) List(ctx context.Context, f Filter) (Page, error) {
	t.viewMu.RLock()
	defer t.viewMu.RUnlock()
	positions, total := t.index.page(f)
	if len(positions) == 0 {
		return Page{Tickets: []domain.Ticket{}, Total: total}, nil
	}
	tickets, missing := t.cache.page(positions)
	if len(missing) == 0 {
		return Page{Tickets: tickets, Total: total}, nil
	}
	read, err := t.table.Issued(ctx, missing)
	if err != nil {
		return Page{}, fmt.Errorf("list tickets: %w", err)
	}
	if len(read) != len(missing) {
		return Page{}, fmt.Errorf("list tickets: index names %d rows, table has %d of them", len(missing), len(read))
	}
	t.cache.putAt(missing, read)
	for i, j := 0, 0; i < len(positions); i++ {
		if j < len(missing) && positions[i] == missing[j] {
			tickets[i] = read[j]
			j++
		}
	}
	return Page{Tickets: tickets, Total: total}, nil
}
