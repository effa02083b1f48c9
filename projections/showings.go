package projections

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ticketd/ticketd/domain"
)

// ShowingsCheckpoint is the checkpoint name of the showings read model.
const ShowingsCheckpoint = "projection:showings"

// The tables of the showings read model: one row per showing (its schedule
// and the seats sold for it, not refunded), one per hold (its status as the
// log has it), and one per ticket sold for a showing and not refunded
// (which a refund gives the seat back to).
const (
	showingsTable       = "showings"
	showingHoldsTable   = "showing_holds"
	showingTicketsTable = "showing_tickets"
)

var showingsSchema = Schema{Name: ShowingsCheckpoint, Version: 1, Tables: []Table{
	{Name: showingsTable, Key: 1, Columns: []Column{
		{"id", Text}, {"theater_name", Text}, {"movie_title", Text}, {"starts_at", Text}, {"starts_utc", Text},
		{"capacity", Integer}, {"price_krw", Integer}, {"per_buyer_limit", Integer}, {"sold", Integer},
	}},
	{Name: showingHoldsTable, Key: 1, Indexes: [][]string{{"status", "showing_id"}}, Columns: []Column{
		{"hold_id", Text}, {"showing_id", Text}, {"user_id", Text}, {"quantity", Integer}, {"expires_at", Text}, {"status", Text},
	}},
	{Name: showingTicketsTable, Key: 1, Columns: []Column{{"ticket_id", Text}, {"showing_id", Text}}},
}}

// ShowingStatus is the status of a showing at a time.
type ShowingStatus string

// The statuses of a showing: closed from its start on, else sold out when
// no seat is available, else on sale.
const (
	ShowingOnSale  ShowingStatus = "on_sale"
	ShowingSoldOut ShowingStatus = "sold_out"
	ShowingClosed  ShowingStatus = "closed"
)

// ShowingView is a showing as its queries answer it, at a time: Held
// counts the seats of its holds active then, Available is Capacity - Sold -
// Held.
type ShowingView struct {
	ID, TheaterName, MovieTitle string
	// StartsAt is as the manager sent it.
	StartsAt              string
	Start                 time.Time
	Capacity, PriceKRW    int64
	PerBuyerLimit         *int64
	Sold, Held, Available int64
	Status                ShowingStatus
}

// ShowingFilter selects showings: exact theater and movie, status at the
// query's time, and a start strictly within (StartsAfter, StartsBefore);
// zero values match all.
type ShowingFilter struct {
	TheaterName, MovieTitle   string
	Status                    ShowingStatus
	StartsAfter, StartsBefore time.Time
	Limit, Offset             int
}

// ShowingPage is one page of showings, by start then id, and the number of
// all matches before paging.
type ShowingPage struct {
	Showings []ShowingView
	Total    int64
}

// Showings is the showings read model: its fold, its projector and its
// queries, which read the clock (holds expire, sales close). It is safe
// for concurrent use.
type Showings struct {
	*Projector
	log Log
	now func() time.Time
}

var _ ReadModel = (*Showings)(nil)

func newShowings(log Log) *Showings { return &Showings{log: log, now: time.Now} }

// SetClock sets the clock the queries read (nil: time.Now). Call it before
// the first query.
func (s *Showings) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now = now
}

func (s *Showings) Schema() Schema { return showingsSchema }

func (s *Showings) EventTypes() []string {
	return []string{domain.TypeShowingScheduled, domain.TypeSeatsHeld, domain.TypeHoldReleased, domain.TypeHoldExpired,
		domain.TypeTicketIssued, domain.TypeTicketRefunded}
}

func (s *Showings) Folder(bool) Folder { return showingFolder{} }

func (s *Showings) open(ctx context.Context, storage Storage, log Log, logger *slog.Logger) (_ *Projector, err error) {
	s.Projector, err = newProjector(ctx, s, storage, log, logger)
	return s.Projector, err
}

// showingFolder folds showings: a schedule adds its row, a ticket sold for
// it adds a seat sold and a refund of one takes it back, a hold's events
// set its status (a ticket bought on it: used).
type showingFolder struct{}

func (showingFolder) Fold(ctx context.Context, rows Rows, events []Event) ([]Change, error) {
	b := showingBatch{rows: rows, rowsOf: map[string]map[string]Row{}, changed: map[string]bool{}, deleted: map[string]bool{}}
	if err := b.prefetch(ctx, events); err != nil {
		return nil, err
	}
	for _, e := range events {
		var err error
		switch v := e.Value.(type) {
		case domain.ShowingScheduled:
			start, perr := domain.ParseTime(v.StartsAt)
			if perr != nil {
				return nil, fmt.Errorf("showing %s at %d: starts_at: %w", e.StreamID, e.Position, perr)
			}
			b.put(showingsTable, e.StreamID, Row{e.StreamID, v.TheaterName, v.MovieTitle, v.StartsAt, domain.FormatTime(start),
				v.Capacity, v.PriceKRW, valueOr(v.PerBuyerLimit, 0), int64(0)})
		case domain.SeatsHeld:
			b.put(showingHoldsTable, v.HoldID, Row{v.HoldID, e.StreamID, v.UserID, v.Quantity, domain.FormatTime(v.ExpiresAt), string(domain.HoldStatusActive)})
		case domain.HoldReleased:
			err = b.endHold(ctx, v.HoldID, domain.HoldStatusReleased)
		case domain.HoldExpired:
			err = b.endHold(ctx, v.HoldID, domain.HoldStatusExpired)
		case domain.TicketIssued:
			if v.ShowingID == nil {
				continue
			}
			if err = b.addSold(ctx, *v.ShowingID, 1); err == nil && v.HoldID != nil {
				err = b.endHold(ctx, *v.HoldID, domain.HoldStatusUsed)
			}
			b.put(showingTicketsTable, e.StreamID, Row{e.StreamID, *v.ShowingID})
		case domain.TicketRefunded:
			var t Row
			if t, err = b.get(ctx, showingTicketsTable, e.StreamID); err == nil && t != nil {
				err = b.addSold(ctx, t[1].(string), -1)
				b.remove(showingTicketsTable, e.StreamID)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s of %s at %d: %w", e.Type, e.StreamID, e.Position, err)
		}
	}
	return b.changes(), nil
}

// showingBatch is the rows one fold changes, by table and key, over the
// stored rows.
type showingBatch struct {
	rows    Rows
	rowsOf  map[string]map[string]Row // nil Row: looked up, none stored
	changed map[string]bool           // table + "\x00" + key of rows changed
	deleted map[string]bool           // the same of rows removed
	order   []string                  // the same, first change first
}

// prefetch looks up, in one query per table, the stored rows that events
// refund tickets of or end holds of. A ticket or hold that an earlier event
// of the batch creates is not looked up: none is stored before the batch.
func (b *showingBatch) prefetch(ctx context.Context, events []Event) error {
	wanted := map[string][]any{}
	want := func(table, key string) {
		if _, known := b.rowsOf[table][key]; !known {
			b.set(table, key, nil) // none stored, unless the lookup finds it
			wanted[table] = append(wanted[table], key)
		}
	}
	for _, e := range events {
		switch v := e.Value.(type) {
		case domain.SeatsHeld:
			b.set(showingHoldsTable, v.HoldID, nil)
		case domain.HoldReleased:
			want(showingHoldsTable, v.HoldID)
		case domain.HoldExpired:
			want(showingHoldsTable, v.HoldID)
		case domain.TicketIssued:
			b.set(showingTicketsTable, e.StreamID, nil)
		case domain.TicketRefunded:
			want(showingTicketsTable, e.StreamID)
		}
	}
	for table, keys := range wanted {
		stored, err := b.rows.Lookup(ctx, table, showingsSchemaKey(table), keys)
		if err != nil {
			return err
		}
		for _, row := range stored {
			b.set(table, row[0].(string), row)
		}
	}
	return nil
}

func (b *showingBatch) get(ctx context.Context, table, key string) (Row, error) {
	if row, ok := b.rowsOf[table][key]; ok {
		return row, nil
	}
	stored, err := b.rows.Lookup(ctx, table, showingsSchemaKey(table), []any{key})
	if err != nil {
		return nil, err
	}
	var row Row
	if len(stored) > 0 {
		row = stored[0]
	}
	b.set(table, key, row)
	return row, nil
}

func (b *showingBatch) set(table, key string, row Row) {
	if b.rowsOf[table] == nil {
		b.rowsOf[table] = map[string]Row{}
	}
	b.rowsOf[table][key] = row
}

// put makes row the row of table with key.
func (b *showingBatch) put(table, key string, row Row) {
	delete(b.deleted, b.change(table, key))
	b.set(table, key, row)
}

// remove deletes the row of table with key.
func (b *showingBatch) remove(table, key string) {
	b.deleted[b.change(table, key)] = true
	b.set(table, key, nil)
}

// change records that the row of table with key changes, and returns its id.
func (b *showingBatch) change(table, key string) string {
	id := table + "\x00" + key
	if !b.changed[id] {
		b.changed[id] = true
		b.order = append(b.order, id)
	}
	return id
}

// addSold adds n seats sold to showing id.
func (b *showingBatch) addSold(ctx context.Context, id string, n int64) error {
	row, err := b.get(ctx, showingsTable, id)
	if err != nil || row == nil {
		return cmp.Or(err, fmt.Errorf("showing %s is not in the read table", id))
	}
	row = slices.Clone(row)
	row[8] = row[8].(int64) + n
	b.put(showingsTable, id, row)
	return nil
}

// endHold sets the status of the active hold id; an ended one keeps its.
func (b *showingBatch) endHold(ctx context.Context, id string, status domain.HoldStatus) error {
	row, err := b.get(ctx, showingHoldsTable, id)
	if err != nil || row == nil {
		return cmp.Or(err, fmt.Errorf("hold %s is not in the read table", id))
	}
	if row[5].(string) != string(domain.HoldStatusActive) {
		return nil
	}
	row = slices.Clone(row)
	row[5] = string(status)
	b.put(showingHoldsTable, id, row)
	return nil
}

func (b *showingBatch) changes() []Change {
	changes := make([]Change, 0, len(b.order))
	for _, id := range b.order {
		table, key, _ := cutKey(id)
		if b.deleted[id] {
			changes = append(changes, Change{Table: table, Op: Delete, Row: deletedRow(table, key)})
			continue
		}
		changes = append(changes, Change{Table: table, Op: Upsert, Row: b.rowsOf[table][key]})
	}
	return changes
}

func cutKey(id string) (table, key string, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == 0 {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

// deletedRow is a row of table with key, the rest zero: what a Delete needs.
func deletedRow(table, key string) Row {
	t, _ := showingsSchema.TableNamed(table)
	row := make(Row, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Type {
		case Integer:
			row[i] = int64(0)
		case Text:
			row[i] = ""
		case NullableText:
			row[i] = (*string)(nil)
		}
	}
	row[0] = key
	return row
}

// showingsSchemaKey returns the key column of a table of the model.
func showingsSchemaKey(table string) string {
	t, _ := showingsSchema.TableNamed(table)
	return t.Columns[0].Name
}

func valueOr(p *int64, none int64) int64 {
	if p == nil {
		return none
	}
	return *p
}

// Showing returns showing id as it is now, or a CodeNotFound *domain.Error.
func (s *Showings) Showing(ctx context.Context, id string) (ShowingView, error) {
	if err := s.serving(); err != nil {
		return ShowingView{}, err
	}
	now := s.now()
	var view ShowingView
	found := false
	err := s.tables.Read(ctx, func(r Reader, _ int64) error {
		rows, err := r.Lookup(ctx, showingsTable, "id", []any{id})
		if err != nil || len(rows) == 0 {
			return err
		}
		held, err := heldSeats(ctx, r, now, id)
		if err != nil {
			return err
		}
		view, found = showingOf(rows[0], held[id], now), true
		return nil
	})
	switch {
	case err != nil:
		return ShowingView{}, err
	case !found:
		return ShowingView{}, domain.Errorf(domain.CodeNotFound, "Showing %q was not found.", id)
	}
	return view, nil
}

// List returns the page of showings f selects, as they are now, by start
// then id, and the number of all matches.
func (s *Showings) List(ctx context.Context, f ShowingFilter) (ShowingPage, error) {
	if err := s.serving(); err != nil {
		return ShowingPage{}, err
	}
	now := s.now()
	var matches []ShowingView
	err := s.tables.Read(ctx, func(r Reader, _ int64) error {
		var where []Eq
		if f.TheaterName != "" {
			where = append(where, Eq{"theater_name", f.TheaterName})
		}
		if f.MovieTitle != "" {
			where = append(where, Eq{"movie_title", f.MovieTitle})
		}
		rows, err := r.Query(ctx, Query{Table: showingsTable, Where: where, OrderBy: []Order{{Column: "starts_utc"}, {Column: "id"}}})
		if err != nil {
			return err
		}
		held, err := heldSeats(ctx, r, now, "")
		if err != nil {
			return err
		}
		for _, row := range rows {
			v := showingOf(row, held[row[0].(string)], now)
			if (f.Status == "" || v.Status == f.Status) &&
				(f.StartsAfter.IsZero() || v.Start.After(f.StartsAfter)) &&
				(f.StartsBefore.IsZero() || v.Start.Before(f.StartsBefore)) {
				matches = append(matches, v)
			}
		}
		return nil
	})
	if err != nil {
		return ShowingPage{}, err
	}
	page := ShowingPage{Showings: []ShowingView{}, Total: int64(len(matches))}
	if f.Offset < len(matches) {
		page.Showings = append(page.Showings, matches[f.Offset:min(len(matches), f.Offset+f.Limit)]...)
	}
	return page, nil
}

// heldSeats returns the seats of the holds active at now, by showing: of
// showing id alone, or of every showing when id is "".
func heldSeats(ctx context.Context, r Reader, now time.Time, id string) (map[string]int64, error) {
	where := []Eq{{"status", string(domain.HoldStatusActive)}}
	if id != "" {
		where = append(where, Eq{"showing_id", id})
	}
	rows, err := r.Query(ctx, Query{Table: showingHoldsTable, Where: where})
	if err != nil {
		return nil, err
	}
	held := map[string]int64{}
	for _, row := range rows {
		h, err := holdOf(row)
		if err != nil {
			return nil, err
		}
		if h.StatusAt(now) == domain.HoldStatusActive {
			held[h.ShowingID] += h.Quantity
		}
	}
	return held, nil
}

// showingOf returns the showing of a row of the showings table with held
// seats at now.
func showingOf(row Row, held int64, now time.Time) ShowingView {
	v := ShowingView{ID: row[0].(string), TheaterName: row[1].(string), MovieTitle: row[2].(string), StartsAt: row[3].(string),
		Capacity: row[5].(int64), PriceKRW: row[6].(int64), Sold: row[8].(int64), Held: held}
	v.Start, _ = domain.ParseTime(row[4].(string))
	if limit := row[7].(int64); limit > 0 {
		v.PerBuyerLimit = &limit
	}
	v.Available = max(v.Capacity-v.Sold-v.Held, 0)
	switch {
	case !now.Before(v.Start):
		v.Status = ShowingClosed
	case v.Available == 0:
		v.Status = ShowingSoldOut
	default:
		v.Status = ShowingOnSale
	}
	return v
}

// Hold returns hold id, its Status as the log has it (StatusAt reads the
// clock), or a CodeNotFound *domain.Error.
func (s *Showings) Hold(ctx context.Context, id string) (domain.Hold, error) {
	if err := s.serving(); err != nil {
		return domain.Hold{}, err
	}
	rows, err := s.tables.Lookup(ctx, showingHoldsTable, "hold_id", []any{id})
	switch {
	case err != nil:
		return domain.Hold{}, err
	case len(rows) == 0:
		return domain.Hold{}, domain.Errorf(domain.CodeNotFound, "Hold %q was not found.", id)
	}
	return holdOf(rows[0])
}

// Now returns the time of the model's clock.
func (s *Showings) Now() time.Time { return s.now() }

// holdLookupWait bounds how long FindHold waits for the model to reach
// the log's head.
const holdLookupWait = 5 * time.Second

// FindHold returns hold id as Hold does (see app.HoldFinder). A hold the
// model does not hold yet is looked up again once the model reached the
// log's head, so a hold committed before the call is found; waiting ends
// with ctx or after holdLookupWait, failing with a CodeUnavailable error.
func (s *Showings) FindHold(ctx context.Context, id string) (domain.Hold, bool, error) {
	h, err := s.Hold(ctx, id)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		wait, cancel := context.WithTimeout(ctx, holdLookupWait)
		defer cancel()
		if err := s.WaitFor(wait, s.log.Head()); err != nil {
			return domain.Hold{}, false, domain.Errorf(domain.CodeUnavailable, "The showings read model is behind the log; retry.")
		}
		h, err = s.Hold(ctx, id)
	}
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return domain.Hold{}, false, nil
	case err != nil:
		return domain.Hold{}, false, err
	}
	return h, true, nil
}

// holdOf reads a row of the holds table.
func holdOf(row Row) (domain.Hold, error) {
	h := domain.Hold{ID: row[0].(string), ShowingID: row[1].(string), UserID: row[2].(string), Quantity: row[3].(int64),
		Status: domain.HoldStatus(row[5].(string))}
	var err error
	if h.ExpiresAt, err = domain.ParseTime(row[4].(string)); err != nil {
		return domain.Hold{}, fmt.Errorf("hold %s: expires_at: %w", h.ID, err)
	}
	return h, nil
}
