package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// SalesCheckpoint is the checkpoint name of the sales projector.
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

// SalesDelta is what one event adds to the sales of its theater, its movie
// and its minute.
type SalesDelta struct {
	Theater, Movie string
	Minute         string // MinuteLayout, UTC
	Issued         int64
	Canceled       int64
	RevenueKRW     int64
}

// SalesTable is the storage port of the sales read model, one
// implementation per engine (projections/sqlite), held to one behaviour by
// projections/projectiontest. Each write commits its rows and the sales
// checkpoint in one transaction; reads see the rows and the checkpoint of
// one snapshot. Its methods are safe for concurrent use.
type SalesTable interface {
	// Checkpoint returns the position the tables reflect, 0 for new tables.
	Checkpoint(ctx context.Context) (int64, error)
	// Add moves the checkpoint from prev to pos and adds deltas to the
	// rows they name, creating missing rows, in one transaction; it fails
	// with ErrCheckpointMoved, changing nothing, when the stored checkpoint
	// is not prev (no row counts as 0).
	Add(ctx context.Context, deltas []SalesDelta, prev, pos int64) error
	// Rebuild moves the checkpoint from prev to until and replaces every
	// row with the fold of the log up to position until, in one
	// transaction; it fails with ErrCheckpointMoved, changing nothing,
	// when the stored checkpoint is not prev (no row counts as 0).
	Rebuild(ctx context.Context, prev, until int64) error
	// Page returns the rows of dimension by, highest revenue first, then
	// most issued, then by name.
	Page(ctx context.Context, by Dimension, limit, offset int) (SalesPage, error)
	// Timeline reads the stored minutes in [from, to] (MinuteLayout), in
	// order, and the totals.
	Timeline(ctx context.Context, from, to string) (Timeline, error)
	// Verify compares every row with the fold of the log up to the
	// checkpoint, within one snapshot.
	Verify(ctx context.Context) (SalesReport, error)
}

// Sales is the sales read model: per theater and per movie counts and
// revenue, and per-minute issues and refunds, fed by its own projector (a
// Watermill handler) with its own checkpoint. It is safe for concurrent use.
type Sales struct {
	follower
	table   SalesTable
	applyMu sync.Mutex // one apply at a time: checkpoint read-modify-write
	issued  *issuances // of tickets told by Remember
}

// OpenSales loads the checkpoint of table, the sales read model of log.
func OpenSales(ctx context.Context, log Log, table SalesTable, logger *slog.Logger) (*Sales, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Sales{follower: follower{name: SalesCheckpoint, log: log, logger: logger}, table: table, issued: newIssuances()}
	s.follower.apply, s.follower.refresh = s.apply, s.refresh
	pos, err := table.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	s.applied.Advance(pos)
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

// RebuildSales refolds table from the whole log and sets its checkpoint to
// its head, in one transaction, returning the head. Meant for a stopped
// service (`ticketd replay`).
func RebuildSales(ctx context.Context, log Log, table SalesTable) (int64, error) {
	prev, err := table.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	head := log.Head()
	if err := table.Rebuild(ctx, prev, head); err != nil {
		return 0, fmt.Errorf("rebuild sales tables: %w", err)
	}
	return head, nil
}

// CatchUp applies every event committed after the checkpoint, up to the log
// head at the time of the call, and returns how many it applied. Far behind
// (a seeded or imported database) it refolds the tables from the log in one
// transaction instead, so call it before the projector receives messages.
func (s *Sales) CatchUp(ctx context.Context, progress func(applied int64)) (int64, error) {
	before := s.Position()
	if s.log.Head()-before > catchUpBatch {
		err := s.refold(ctx)
		if !errors.Is(err, ErrCheckpointMoved) {
			return s.Position() - before, err
		}
		if err := s.refresh(ctx); err != nil { // another writer moved the tables: go on from there
			return 0, err
		}
	}
	_, err := s.follower.CatchUp(ctx, progress)
	return s.Position() - before, err
}

// refold replaces the tables with the fold of the log up to its head,
// moving the checkpoint from the applied position.
func (s *Sales) refold(ctx context.Context) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	head := s.log.Head()
	if err := s.table.Rebuild(ctx, s.applied.Value(), head); err != nil {
		return fmt.Errorf("refold sales tables: %w", err)
	}
	s.applied.Advance(head)
	return nil
}

// Page returns the rows of dimension by, highest revenue first.
func (s *Sales) Page(ctx context.Context, by Dimension, limit, offset int) (SalesPage, error) {
	return s.table.Page(ctx, by, limit, offset)
}

// Timeline returns the per-minute sales of the last n minutes up to and
// including the one now falls in, oldest first.
func (s *Sales) Timeline(ctx context.Context, now time.Time, n int) (Timeline, error) {
	last := now.UTC().Truncate(time.Minute)
	first := last.Add(-time.Duration(n-1) * time.Minute)
	tl, err := s.table.Timeline(ctx, first.Format(MinuteLayout), last.Format(MinuteLayout))
	if err != nil {
		return Timeline{}, err
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

// apply writes the deltas of records and the checkpoint in one transaction;
// records at or below the checkpoint are skipped.
func (s *Sales) apply(ctx context.Context, records []eventstore.Record) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	fresh, err := s.after(records, s.applied.Value())
	if err != nil || len(fresh) == 0 {
		return err
	}
	deltas, err := s.deltas(ctx, fresh)
	if err != nil {
		return err
	}
	last := fresh[len(fresh)-1].Position
	if err := s.table.Add(ctx, deltas, s.applied.Value(), last); err != nil {
		return err
	}
	s.applied.Advance(last)
	return nil
}

// refresh advances the applied position to the tables' checkpoint: the
// sales model keeps no state in memory beyond it.
func (s *Sales) refresh(ctx context.Context) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	pos, err := s.table.Checkpoint(ctx)
	if err != nil {
		return err
	}
	s.applied.Advance(pos)
	return nil
}

// deltas returns what records add to the sales. A refund counts for the
// theater, movie and price of its ticket's TicketIssued event: from this
// batch, from Remember, else read from the log; a refund of a ticket the log
// never issued is an error.
func (s *Sales) deltas(ctx context.Context, records []eventstore.Record) ([]SalesDelta, error) {
	deltas := make([]SalesDelta, 0, len(records))
	issuedHere := map[string]issuance{} // tickets issued in this batch
	for _, rec := range records {
		e, err := rec.Event()
		if err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", s.name, rec.Position, err)
		}
		minute := rec.OccurredAt.UTC().Format(MinuteLayout)
		switch e := e.(type) {
		case domain.TicketIssued:
			issuedHere[rec.StreamID] = issuanceOf(e)
			deltas = append(deltas, SalesDelta{Theater: e.TheaterName, Movie: e.MovieTitle, Minute: minute, Issued: 1, RevenueKRW: e.PriceKRW})
		case domain.TicketRefunded:
			ticket, ok := issuedHere[rec.StreamID]
			if !ok {
				ticket, ok = s.issued.take(rec.StreamID)
			}
			if !ok {
				if ticket, err = s.issuance(ctx, rec.StreamID); err != nil {
					return nil, fmt.Errorf("%s: refund at %d: %w", s.name, rec.Position, err)
				}
			}
			deltas = append(deltas, SalesDelta{Theater: ticket.theater, Movie: ticket.movie, Minute: minute, Canceled: 1, RevenueKRW: -ticket.priceKRW})
		}
	}
	return deltas, nil
}

// issuance returns the issuance of ticket id, read from the log.
func (s *Sales) issuance(ctx context.Context, id string) (issuance, error) {
	records, err := s.log.ReadStream(ctx, id)
	if err != nil {
		return issuance{}, err
	}
	for _, rec := range records {
		if e, err := rec.Event(); err == nil {
			if issued, ok := e.(domain.TicketIssued); ok {
				return issuanceOf(issued), nil
			}
		}
	}
	return issuance{}, fmt.Errorf("ticket %s was never issued", id)
}

// SalesReport is the result of SalesTable.Verify.
type SalesReport struct {
	// Checkpoint is the position the sales tables had applied; they are
	// compared with the fold of the log up to it.
	Checkpoint int64
	eventstore.Problems
}
