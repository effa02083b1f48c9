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
	row := t.db.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = ?`, id)
	ticket, err := scanTicket(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id)
	}
	return ticket, err
}

// List returns the page of tickets matching f, oldest issue first, and the
// total number of matches.
func (t *Tickets) List(ctx context.Context, f Filter) (Page, error) {
	var where []string
	var args []any
	for _, c := range []struct{ column, value string }{
		{"theater_name", f.TheaterName},
		{"user_id", f.UserID},
		{"movie_title", f.MovieTitle},
		{"status", string(f.Status)},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	clause := ""
	if len(where) > 0 {
		clause = " WHERE " + strings.Join(where, " AND ")
	}
	tx, err := t.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, err
	}
	defer tx.Rollback()
	page := Page{Tickets: []domain.Ticket{}}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets`+clause, args...).Scan(&page.Total); err != nil {
		return Page{}, fmt.Errorf("count tickets: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets`+clause+` ORDER BY issue_position LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
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
