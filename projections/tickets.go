// Package projections builds ticketd's read models from the event log and
// answers queries from them. A read model is one Go type (tickets.go,
// sales.go) that folds events into row changes of its tables (ReadModel);
// the registry (registry.go) lists them; a Projector keeps each one's tables
// at the log, writing its rows and checkpoint in one transaction of the
// generic storage every engine implements (Storage: projections/sqlite,
// projections/postgres).
package projections

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// TicketsCheckpoint is the checkpoint name of the tickets read model.
const TicketsCheckpoint = "projection:tickets"

// ticketsTable is the table of the tickets read model: one row per issued
// ticket, keyed by the position of its issue (its place in issue order).
const ticketsTable = "tickets"

var ticketsSchema = Schema{Name: TicketsCheckpoint, Version: 2, Tables: []Table{{
	Name: ticketsTable, Key: 1, Unique: []string{"id"},
	Columns: []Column{
		{"issue_position", Integer}, {"id", Text}, {"theater_name", Text}, {"user_id", Text}, {"movie_title", Text},
		{"price_krw", Integer}, {"status", Text}, {"memo", NullableText}, {"issued_at", Text}, {"canceled_at", NullableText},
		{"version", Integer}, {"showing_id", NullableText},
	},
}}}

// Tickets is the tickets read model: its fold, its projector and its
// queries. Filtering, counting and paging use an in-memory index of the
// rows (see listIndex), which the model observes as they change. It is safe
// for concurrent use.
type Tickets struct {
	*Projector
	index *listIndex
	cache *ticketCache
	// read are tickets told by Remember, which a live fold of their
	// refund then needs not look up.
	read *remembered[issued]
}

var _ ReadModel = (*Tickets)(nil)

func newTickets() *Tickets {
	return &Tickets{index: newListIndex(), cache: newTicketCache(), read: newRemembered[issued](issuanceCapacity)}
}

func (t *Tickets) Schema() Schema { return ticketsSchema }

func (t *Tickets) EventTypes() []string {
	return []string{domain.TypeTicketIssued, domain.TypeTicketRefunded}
}

// Folder returns the fold of tickets; the live one starts a refund from the
// ticket told by Remember when that is the state the refund follows.
func (t *Tickets) Folder(rebuild bool) Folder {
	if rebuild {
		return ticketFolder{}
	}
	return ticketFolder{read: t.read}
}

// Remember tells the model ticket t, as folded from the log of this model,
// and the position of its issue (a refund's decision reads them), so that
// applying its refund looks up no row. Only a bounded number of tickets are
// remembered, each until a batch that changes it is folded.
func (t *Tickets) Remember(ticket domain.Ticket, issuePosition int64) {
	t.read.put(ticket.ID, issued{Ticket: ticket, position: issuePosition})
}

// open starts the model's projector over storage and loads the list index.
func (t *Tickets) open(ctx context.Context, storage Storage, log Log, logger *slog.Logger) (_ *Projector, err error) {
	if t.Projector, err = newProjector(ctx, t, storage, log, logger); err != nil {
		return nil, err
	}
	return t.Projector, t.tables.Read(ctx, func(r Reader, _ int64) error {
		return r.Each(ctx, ticketsTable, func(row Row) error {
			e := entryOf(row)
			t.index.add(e)
			if e.Canceled {
				t.index.cancel(e)
			}
			return nil
		})
	})
}

// OpenTickets opens the tickets read model alone, at its stored checkpoint,
// its tables prepared; see Open for all of them.
func OpenTickets(ctx context.Context, log Log, storage Storage, logger *slog.Logger) (*Tickets, error) {
	t := newTickets()
	if _, err := openModel(ctx, t, t.open, storage, log, logger); err != nil {
		return nil, err
	}
	return t, nil
}

// ticketFolder folds tickets: each event evolves its stream's ticket as
// domain.Evolve does, and the batch writes each changed ticket's row once.
type ticketFolder struct {
	read *remembered[issued] // nil: every ticket issued before the batch is looked up
}

func (f ticketFolder) Fold(ctx context.Context, rows Rows, records []Event) ([]Change, error) {
	folded := map[string]issued{} // the tickets as this batch leaves them, by id
	issuedHere, wanted := map[string]bool{}, map[string]bool{}
	var missing []any // the ids of tickets issued before the batch and not remembered
	for _, rec := range records {
		switch id := rec.StreamID; {
		case rec.Type == domain.TypeTicketIssued:
			issuedHere[id] = true
		case !issuedHere[id] && !wanted[id]:
			wanted[id] = true
			if known, ok := f.remembered(id, rec.Version); ok {
				folded[id] = known
			} else {
				missing = append(missing, id)
			}
		}
	}
	stored, err := rows.Lookup(ctx, ticketsTable, "id", missing)
	if err != nil {
		return nil, err
	}
	for _, row := range stored {
		t, err := ticketOf(row)
		if err != nil {
			return nil, err
		}
		folded[t.ID] = t
	}
	changed := map[string]bool{}
	var order []string // the tickets changed, first change first
	for _, rec := range records {
		r, ok := folded[rec.StreamID]
		switch {
		case rec.Type == domain.TypeTicketIssued:
			r.position = rec.Position
		case !ok:
			return nil, fmt.Errorf("%s of %s at %d: ticket not in the read table", rec.Type, rec.StreamID, rec.Position)
		}
		r.Ticket = domain.Evolve(r.Ticket, rec.StreamID, rec.Value, rec.OccurredAt)
		r.Version = rec.Version
		if !changed[rec.StreamID] {
			changed[rec.StreamID] = true
			order = append(order, rec.StreamID)
		}
		folded[rec.StreamID] = r
	}
	changes := make([]Change, len(order))
	for i, id := range order {
		changes[i] = Change{Table: ticketsTable, Op: Upsert, Row: folded[id].row()}
	}
	return changes, nil
}

// remembered returns ticket id as Remember told it, when that is the state
// its event at version follows.
func (f ticketFolder) remembered(id string, version int64) (issued, bool) {
	if f.read == nil {
		return issued{}, false
	}
	t, ok := f.read.take(id)
	return t, ok && t.Version == version-1
}

// issued is a ticket and the position of its issue.
type issued struct {
	domain.Ticket
	position int64
}

func (t issued) row() Row {
	var canceledAt *string
	if t.CanceledAt != nil {
		at := domain.FormatTime(*t.CanceledAt)
		canceledAt = &at
	}
	return Row{t.position, t.ID, t.TheaterName, t.UserID, t.MovieTitle, t.PriceKRW, string(t.Status), t.Memo,
		domain.FormatTime(t.IssuedAt), canceledAt, t.Version, t.ShowingID}
}

// ticketOf reads a row of the tickets table.
func ticketOf(row Row) (issued, error) {
	t := issued{position: row[0].(int64), Ticket: domain.Ticket{ID: row[1].(string), TheaterName: row[2].(string),
		UserID: row[3].(string), MovieTitle: row[4].(string), PriceKRW: row[5].(int64), Status: domain.Status(row[6].(string)),
		Memo: row[7].(*string), Version: row[10].(int64), ShowingID: row[11].(*string)}}
	var err error
	if t.IssuedAt, err = domain.ParseTime(row[8].(string)); err != nil {
		return issued{}, fmt.Errorf("ticket %s: issued_at: %w", t.ID, err)
	}
	if at := row[9].(*string); at != nil {
		canceled, err := domain.ParseTime(*at)
		if err != nil {
			return issued{}, fmt.Errorf("ticket %s: canceled_at: %w", t.ID, err)
		}
		t.CanceledAt = &canceled
	}
	return t, nil
}

// IndexEntry is what the list index holds of one ticket.
type IndexEntry struct {
	IssuePosition                   int64
	ID                              string
	TheaterName, UserID, MovieTitle string
	Canceled                        bool
}

// entryOf returns the index entry of a row of the tickets table.
func entryOf(row Row) IndexEntry {
	return IndexEntry{IssuePosition: row[0].(int64), ID: row[1].(string), TheaterName: row[2].(string), UserID: row[3].(string),
		MovieTitle: row[4].(string), Canceled: row[6].(string) == string(domain.StatusCanceled)}
}

// Observe records changed rows in the list index (a ticket it does not
// hold yet is added) and drops canceled ones from the cache.
func (t *Tickets) Observe(changes []Change) {
	slices.SortFunc(changes, func(a, b Change) int { return cmp.Compare(a.Row[0].(int64), b.Row[0].(int64)) })
	for _, c := range changes {
		e := entryOf(c.Row)
		if !t.index.holds(e.IssuePosition) {
			t.index.add(e)
		}
		if e.Canceled {
			t.index.cancel(e)
			t.cache.forget(e)
		}
	}
}

// Entries returns every index entry of the stored tickets that are still
// issued, in issue order (for tools that pick tickets to refund).
func (t *Tickets) Entries(ctx context.Context) ([]IndexEntry, error) {
	var entries []IndexEntry
	err := t.tables.Read(ctx, func(r Reader, _ int64) error {
		return r.Each(ctx, ticketsTable, func(row Row) error {
			entries = append(entries, entryOf(row))
			return nil
		})
	})
	return entries, err
}

// describeTicket returns the problem of a row of the tickets table that
// differs from the fresh fold of the log (want) or has none (want or got
// nil), up to position checkpoint.
func describeTicket(want, got Row, checkpoint int64) eventstore.Problem {
	switch {
	case got == nil:
		w := entryOf(want)
		return eventstore.Problem{Kind: ProblemTicketMissing, TicketID: w.ID, Position: w.IssuePosition,
			Detail: fmt.Sprintf("ticket %s was issued at position %d but has no row in the read table", w.ID, w.IssuePosition)}
	case want == nil:
		id := got[1].(string)
		return eventstore.Problem{Kind: ProblemTicketUnexpected, TicketID: id,
			Detail: fmt.Sprintf("ticket %s is in the read table but no event up to position %d issued it", id, checkpoint)}
	}
	var diffs []string
	for i, c := range ticketsSchema.Tables[0].Columns {
		if i == 1 {
			continue
		}
		if w, g := showTicketField(c.Name, want[i]), showTicketField(c.Name, got[i]); w != g {
			diffs = append(diffs, fmt.Sprintf("%s: log says %s, table has %s", c.Name, w, g))
		}
	}
	id := want[1].(string)
	return eventstore.Problem{Kind: ProblemTicketDiffers, TicketID: id, Position: want[0].(int64),
		Detail: fmt.Sprintf("ticket %s differs from the fold of its events: %s", id, strings.Join(diffs, "; "))}
}

// showTicketField renders the value of a column of the tickets table in a
// problem's detail: a memo quoted, a missing value as null.
func showTicketField(column string, v any) string {
	if s, ok := v.(*string); ok {
		switch {
		case s == nil:
			return "null"
		case column == "memo":
			return fmt.Sprintf("%q", *s)
		}
		return *s
	}
	return fmt.Sprint(v)
}
