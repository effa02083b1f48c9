package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"

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
	if err := t.serving(); err != nil {
		return domain.Ticket{}, err
	}
	t.view.RLock()
	defer t.view.RUnlock()
	if ticket, ok := t.cache.get(id); ok {
		return ticket, nil
	}
	rows, err := t.tables.Lookup(ctx, ticketsTable, "id", []any{id})
	switch {
	case err != nil:
		return domain.Ticket{}, err
	case len(rows) == 0:
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id)
	}
	ticket, err := ticketOf(rows[0])
	if err != nil {
		return domain.Ticket{}, err
	}
	t.cache.put(ticket.Ticket)
	return ticket.Ticket, nil
}

// List returns the page of tickets matching f, oldest issue first, and the
// total number of matches. The page and the total come from one state of the
// table: no apply happens in between.
func (t *Tickets) List(ctx context.Context, f Filter) (Page, error) {
	if err := t.serving(); err != nil {
		return Page{}, err
	}
	t.view.RLock()
	defer t.view.RUnlock()
	positions, total := t.index.page(f)
	if len(positions) == 0 {
		return Page{Tickets: []domain.Ticket{}, Total: total}, nil
	}
	tickets, missing := t.cache.page(positions)
	if len(missing) == 0 {
		return Page{Tickets: tickets, Total: total}, nil
	}
	read, err := t.issued(ctx, missing)
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

// issued returns the stored tickets issued at positions (ascending), in
// that order; a position without a row is left out.
func (t *Tickets) issued(ctx context.Context, positions []int64) ([]domain.Ticket, error) {
	keys := make([]any, len(positions))
	for i, p := range positions {
		keys[i] = p
	}
	rows, err := t.tables.Lookup(ctx, ticketsTable, "issue_position", keys)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })
	tickets := make([]domain.Ticket, len(rows))
	for i, row := range rows {
		t, err := ticketOf(row)
		if err != nil {
			return nil, err
		}
		tickets[i] = t.Ticket
	}
	return tickets, nil
}
