package projections

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// SalesCheckpoint is the checkpoint name of the sales read model.
const SalesCheckpoint = "projection:sales"

// ProblemSalesDiffers is the kind of eventstore.Problem the sales check
// reports: a row of the sales tables differs from a fresh fold of the log.
const ProblemSalesDiffers = "sales_differs"

// Dimension is what sales are grouped by.
type Dimension string

// The dimensions of the sales read model.
const (
	ByTheater Dimension = "theater"
	ByMovie   Dimension = "movie"
)

// MinuteLayout formats the UTC minute an event falls in: the first 16
// characters of its stored occurred_at (domain.TimeLayout).
const MinuteLayout = "2006-01-02T15:04"

// The tables of the sales read model: totals per theater and per movie,
// and issues and refunds per UTC minute.
const (
	salesTotals  = "sales_totals"
	salesMinutes = "sales_minutes"
)

var salesSchema = Schema{Name: SalesCheckpoint, Version: 1, Tables: []Table{
	{Name: salesTotals, Key: 2, Columns: []Column{
		{"dimension", Text}, {"name", Text}, {"issued", Integer}, {"canceled", Integer}, {"revenue_krw", Integer},
	}},
	{Name: salesMinutes, Key: 1, Columns: []Column{{"minute", Text}, {"issued", Integer}, {"canceled", Integer}}},
}}

// SalesRow is the sales of one theater or movie: tickets issued, tickets
// refunded, and the prices of those issued and not refunded.
type SalesRow struct {
	Name       string
	Issued     int64
	Canceled   int64
	RevenueKRW int64
}

// SalesPage is one page of a dimension's rows, by revenue (highest first),
// then name, with the number of all rows and the position they reflect.
type SalesPage struct {
	Rows     []SalesRow
	Total    int64
	Position int64
}

// Minute is the issues and refunds committed in one UTC minute.
type Minute struct {
	Start    time.Time
	Issued   int64
	Canceled int64
}

// Timeline is the per-minute sales of a time range (every minute of it, in
// order, empty ones included), the totals since the start of the log and the
// position both reflect.
type Timeline struct {
	Minutes  []Minute
	Totals   SalesRow // Name is empty
	Position int64
}

// Sales is the sales read model: per theater and per movie counts and
// revenue, and per-minute issues and refunds. It is safe for concurrent use.
type Sales struct {
	*Projector
	log    Log
	issued *issuances // of tickets told by Remember
}

var _ ReadModel = (*Sales)(nil)

func newSales(log Log) *Sales {
	return &Sales{log: log, issued: newRemembered[issuance](issuanceCapacity)}
}

func (s *Sales) Schema() Schema { return salesSchema }

func (s *Sales) EventTypes() []string {
	return []string{domain.TypeTicketIssued, domain.TypeTicketRefunded}
}

// Folder returns the live folder, which finds the issuance of a refunded
// ticket in its batch, among those told by Remember, else in the log; a
// rebuild's also among every issuance it folded.
func (s *Sales) Folder(rebuild bool) Folder {
	f := &salesFolder{log: s.log, remembered: s.issued}
	if rebuild {
		f.folded = newRemembered[issuance](rebuildIssuanceCapacity)
	}
	return f
}

func (s *Sales) open(ctx context.Context, storage Storage, log Log, logger *slog.Logger) (_ *Projector, err error) {
	s.Projector, err = newProjector(ctx, s, storage, log, logger)
	return s.Projector, err
}

// OpenSales opens the sales read model alone, at its stored checkpoint, its
// tables prepared; see Open for all of them.
func OpenSales(ctx context.Context, log Log, storage Storage, logger *slog.Logger) (*Sales, error) {
	s := newSales(log)
	if _, err := openModel(ctx, s, s.open, storage, log, logger); err != nil {
		return nil, err
	}
	return s, nil
}

// Remember tells the model the issuance of t, a ticket as folded from the
// log of this model (a refund's decision reads it), so that applying its
// refund reads no stream; a ticket not in status issued is ignored. Only a
// bounded number of tickets are remembered, each until its refund is
// applied.
func (s *Sales) Remember(t domain.Ticket) {
	if t.Status == domain.StatusIssued {
		s.issued.put(t.ID, issuance{theater: t.TheaterName, movie: t.MovieTitle, priceKRW: t.PriceKRW})
	}
}

// salesFolder folds sales: an issue counts for the theater, movie and
// minute of its event, with its price; a refund counts as canceled for the
// theater and movie of its ticket's issue, without its price, and for its
// own minute.
type salesFolder struct {
	log        Log
	remembered *issuances
	folded     *issuances // nil but for a rebuild
}

// salesKey is a row of sales_totals (dimension and name) or of
// sales_minutes (minute).
type salesKey struct{ dimension, name string }

func (f *salesFolder) Fold(ctx context.Context, _ Rows, records []Event) ([]Change, error) {
	sums := map[salesKey]*[3]int64{} // issued, canceled, revenue
	var order []salesKey
	add := func(k salesKey, issued, canceled, revenue int64) {
		sum := sums[k]
		if sum == nil {
			sum = &[3]int64{}
			sums[k] = sum
			order = append(order, k)
		}
		sum[0], sum[1], sum[2] = sum[0]+issued, sum[1]+canceled, sum[2]+revenue
	}
	here, err := f.refundedIssuances(ctx, records)
	if err != nil {
		return nil, err
	}
	for _, rec := range records {
		minute := salesKey{name: rec.OccurredAt.UTC().Format(MinuteLayout)}
		var is issuance
		var issued, canceled int64
		switch e := rec.Value.(type) {
		case domain.TicketIssued:
			is, issued = issuanceOf(e), 1
			here[rec.StreamID] = is
			if f.folded != nil {
				f.folded.put(rec.StreamID, is)
			}
		case domain.TicketRefunded:
			var ok bool
			if is, ok = here[rec.StreamID]; !ok {
				return nil, fmt.Errorf("refund at %d: ticket %s was never issued", rec.Position, rec.StreamID)
			}
			canceled = 1
			is.priceKRW = -is.priceKRW
		default:
			continue
		}
		add(salesKey{string(ByTheater), is.theater}, issued, canceled, issued*is.priceKRW+canceled*is.priceKRW)
		add(salesKey{string(ByMovie), is.movie}, issued, canceled, issued*is.priceKRW+canceled*is.priceKRW)
		add(minute, issued, canceled, 0)
	}
	changes := make([]Change, len(order))
	for i, k := range order {
		sum := sums[k]
		if k.dimension == "" {
			changes[i] = Change{Table: salesMinutes, Op: Add, Row: Row{k.name, sum[0], sum[1]}}
		} else {
			changes[i] = Change{Table: salesTotals, Op: Add, Row: Row{k.dimension, k.name, sum[0], sum[1], sum[2]}}
		}
	}
	return changes, nil
}

// refundedIssuances returns the issuances of the tickets that records
// refund without issuing them first: from what the folder knows, else from
// their streams in the log, read together. A ticket whose stream holds no
// issue is left out.
func (f *salesFolder) refundedIssuances(ctx context.Context, records []Event) (map[string]issuance, error) {
	found := map[string]issuance{}
	seen := map[string]bool{} // tickets issued in the batch or already looked up
	var unread []string
	for _, rec := range records {
		id := rec.StreamID
		switch rec.Value.(type) {
		case domain.TicketIssued:
			seen[id] = true
		case domain.TicketRefunded:
			if seen[id] {
				continue
			}
			seen[id] = true
			if is, ok := f.known(id); ok {
				found[id] = is
			} else {
				unread = append(unread, id)
			}
		}
	}
	if len(unread) == 0 {
		return found, nil
	}
	streams, err := f.log.ReadStreams(ctx, unread)
	if err != nil {
		return nil, err
	}
	for _, rec := range streams {
		if rec.Type != domain.TypeTicketIssued {
			continue
		}
		if e, err := rec.Event(); err == nil {
			if issued, ok := e.(domain.TicketIssued); ok {
				found[rec.StreamID] = issuanceOf(issued)
			}
		}
	}
	return found, nil
}

// known returns the issuance of ticket id when the folder knows it: a
// rebuild's folded issuances, or those told by Remember.
func (f *salesFolder) known(id string) (issuance, bool) {
	for _, known := range []*issuances{f.folded, f.remembered} {
		if known == nil {
			continue
		}
		if is, ok := known.take(id); ok {
			return is, true
		}
	}
	return issuance{}, false
}

// Page returns the rows of dimension by, highest revenue first, then most
// issued, then by name.
func (s *Sales) Page(ctx context.Context, by Dimension, limit, offset int) (SalesPage, error) {
	if err := s.serving(); err != nil {
		return SalesPage{}, err
	}
	page := SalesPage{Rows: []SalesRow{}}
	err := s.tables.Read(ctx, func(r Reader, pos int64) error {
		where := []Eq{{"dimension", string(by)}}
		var err error
		if page.Total, err = r.Count(ctx, salesTotals, where); err != nil {
			return err
		}
		rows, err := r.Query(ctx, Query{Table: salesTotals, Where: where, Limit: limit, Offset: offset,
			OrderBy: []Order{{"revenue_krw", true}, {"issued", true}, {"name", false}}})
		for _, row := range rows {
			page.Rows = append(page.Rows, salesRowOf(row))
		}
		page.Position = pos
		return err
	})
	if err != nil {
		return SalesPage{}, fmt.Errorf("read sales by %s: %w", by, err)
	}
	return page, nil
}

func salesRowOf(row Row) SalesRow {
	return SalesRow{Name: row[1].(string), Issued: row[2].(int64), Canceled: row[3].(int64), RevenueKRW: row[4].(int64)}
}

// Timeline returns the per-minute sales of the last n minutes up to and
// including the one now falls in, oldest first.
func (s *Sales) Timeline(ctx context.Context, now time.Time, n int) (Timeline, error) {
	if err := s.serving(); err != nil {
		return Timeline{}, err
	}
	last := now.UTC().Truncate(time.Minute)
	first := last.Add(-time.Duration(n-1) * time.Minute)
	var tl Timeline
	err := s.tables.Read(ctx, func(r Reader, pos int64) error {
		tl.Position = pos
		theaters, err := r.Query(ctx, Query{Table: salesTotals, Where: []Eq{{"dimension", string(ByTheater)}}})
		if err != nil {
			return err
		}
		for _, row := range theaters {
			t := salesRowOf(row)
			tl.Totals.Issued, tl.Totals.Canceled, tl.Totals.RevenueKRW = tl.Totals.Issued+t.Issued, tl.Totals.Canceled+t.Canceled, tl.Totals.RevenueKRW+t.RevenueKRW
		}
		minutes, err := r.Query(ctx, Query{Table: salesMinutes, OrderBy: []Order{{"minute", false}},
			Between: &Between{"minute", first.Format(MinuteLayout), last.Format(MinuteLayout)}})
		for _, row := range minutes {
			m := Minute{Issued: row[1].(int64), Canceled: row[2].(int64)}
			if m.Start, err = time.Parse(MinuteLayout, row[0].(string)); err != nil {
				return fmt.Errorf("minute %q: %w", row[0], err)
			}
			tl.Minutes = append(tl.Minutes, m)
		}
		return err
	})
	if err != nil {
		return Timeline{}, fmt.Errorf("read sales timeline: %w", err)
	}
	tl.Minutes = denseMinutes(tl.Minutes, first, n)
	return tl, nil
}

// denseMinutes returns the n minutes from first on, with the counts of the
// stored ones (sorted, within the range) and zero for the others.
func denseMinutes(stored []Minute, first time.Time, n int) []Minute {
	out := make([]Minute, n)
	j := 0
	for i := range out {
		out[i].Start = first.Add(time.Duration(i) * time.Minute)
		if j < len(stored) && stored[j].Start.Equal(out[i].Start) {
			out[i] = stored[j]
			j++
		}
	}
	return out
}

// Describe returns the problem of a row of the sales tables that differs
// from the fresh fold of the log up to position checkpoint (want), or that
// one of them lacks (nil).
func (s *Sales) Describe(table string, want, got Row, checkpoint int64) eventstore.Problem {
	key := want
	if key == nil {
		key = got
	}
	name := table + " " + key[0].(string)
	show := func(r Row) string {
		if r == nil {
			return "no row"
		}
		if table == salesMinutes {
			return fmt.Sprintf("issued %d, canceled %d", r[1], r[2])
		}
		return fmt.Sprintf("issued %d, canceled %d, revenue_krw %d", r[2], r[3], r[4])
	}
	if table == salesTotals {
		name += " '" + strings.ReplaceAll(key[1].(string), "'", "''") + "'"
	}
	return eventstore.Problem{Kind: ProblemSalesDiffers,
		Detail: fmt.Sprintf("%s differs from the fold of the log up to position %d: log says %s, table has %s", name, checkpoint, show(want), show(got))}
}
