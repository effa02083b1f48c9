package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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

const ticketColumns = `id, theater_name, user_id, movie_title, price_krw, status, memo, issued_at, canceled_at, version`

// Get returns the ticket with the given id, or a CodeNotFound *domain.Error.
func (t *Tickets) Get(ctx context.Context, id string) (domain.Ticket, error) {
	t.viewMu.RLock()
	defer t.viewMu.RUnlock()
	if ticket, ok := t.cache.get(id); ok {
		return ticket, nil
	}
	row := t.db.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = ?`, id)
	ticket, err := scanTicket(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id)
	}
	if err == nil {
		t.cache.put(ticket)
	}
	return ticket, err
}

// List returns the page of tickets matching f, oldest issue first, and the
// total number of matches. The page and the total come from one state of the
// table: no apply happens in between.
func (t *Tickets) List(ctx context.Context, f Filter) (Page, error) {
	t.viewMu.RLock()
	defer t.viewMu.RUnlock()
	positions, total := t.index.page(f)
	page := Page{Tickets: make([]domain.Ticket, 0, len(positions)), Total: total}
	if len(positions) == 0 {
		return page, nil
	}
	args := make([]any, len(positions))
	for i, p := range positions {
		args[i] = p
	}
	placeholders := strings.TrimSuffix(strings.Repeat("?,", len(positions)), ",")
	rows, err := t.db.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE issue_position IN (`+placeholders+`) ORDER BY issue_position`, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ticket, err := scanTicket(rows)
		if err != nil {
			return Page{}, err
		}
		page.Tickets = append(page.Tickets, ticket)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list tickets: %w", err)
	}
	if len(page.Tickets) != len(positions) {
		return Page{}, fmt.Errorf("list tickets: index names %d rows, table has %d of them", len(positions), len(page.Tickets))
	}
	return page, nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanTicket(s scanner) (domain.Ticket, error) {
	var t domain.Ticket
	var status, issuedAt string
	var memo, canceledAt sql.NullString
	if err := s.Scan(&t.ID, &t.TheaterName, &t.UserID, &t.MovieTitle, &t.PriceKRW, &status, &memo, &issuedAt, &canceledAt, &t.Version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Ticket{}, err
		}
		return domain.Ticket{}, fmt.Errorf("read ticket: %w", err)
	}
	t.Status = domain.Status(status)
	if memo.Valid {
		t.Memo = &memo.String
	}
	var err error
	if t.IssuedAt, err = domain.ParseTime(issuedAt); err != nil {
		return domain.Ticket{}, fmt.Errorf("ticket %s: issued_at: %w", t.ID, err)
	}
	if canceledAt.Valid {
		at, err := domain.ParseTime(canceledAt.String)
		if err != nil {
			return domain.Ticket{}, fmt.Errorf("ticket %s: canceled_at: %w", t.ID, err)
		}
		t.CanceledAt = &at
	}
	return t, nil
}
