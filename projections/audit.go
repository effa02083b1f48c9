package projections

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Kinds of eventstore.Problem the read-table check reports.
const (
	ProblemTicketDiffers    = "ticket_differs"    // the row's fields differ from the fold of its stream
	ProblemTicketMissing    = "ticket_missing"    // a ticket's stream has no row
	ProblemTicketUnexpected = "ticket_unexpected" // a row has no stream behind it
	ProblemUndecodableEvent = "undecodable_event" // an event's data cannot be read
)

// TicketsReport is the result of VerifyTickets.
type TicketsReport struct {
	// Tickets is the number of rows in the read table; Checkpoint the
	// position it had applied when checked (events after it are not compared).
	Tickets    int64 `json:"tickets"`
	Checkpoint int64 `json:"checkpoint"`
	eventstore.Problems
}

// VerifyTickets folds every stream of the log again, one ticket at a time,
// and compares each with its row in the tickets table field by field, within
// one snapshot and up to the table's checkpoint. Memory stays constant: the
// log (by stream) and the table (by id) are merged in one ordered pass.
// It returns an error only when the database cannot be read.
func VerifyTickets(ctx context.Context, table TicketTable, progress func(folded int64)) (TicketsReport, error) {
	var rep TicketsReport
	err := table.Snapshot(ctx, func(snap TicketSnapshot) error {
		rep = TicketsReport{Checkpoint: snap.Checkpoint()}
		rep.List = []eventstore.Problem{}
		return verifySnapshot(snap, &rep, progress)
	})
	return rep, err
}

// verifySnapshot merges the rows of snap, by id, with the folds of its
// streams into rep.
func verifySnapshot(snap TicketSnapshot, rep *TicketsReport, progress func(folded int64)) error {
	nextEvent, stop := iter.Pull2(snap.EventsByStream(rep.Checkpoint))
	defer stop()
	streams := &streamFolder{next: nextEvent}
	var folded int64
	missing := func(want Row) {
		rep.Add(eventstore.Problem{Kind: ProblemTicketMissing, TicketID: want.ID, Position: want.IssuePosition,
			Detail: fmt.Sprintf("ticket %s was issued at position %d but has no row in the read table", want.ID, want.IssuePosition)})
	}
	want, wantOK, err := streams.fold(&rep.Problems)
	if err != nil {
		return err
	}
	for row, err := range snap.Rows() {
		if err != nil {
			return fmt.Errorf("read tickets table: %w", err)
		}
		rep.Tickets++
		for wantOK && want.ID < row.ID {
			missing(want)
			if want, wantOK, err = streams.fold(&rep.Problems); err != nil {
				return err
			}
			folded++
		}
		if !wantOK || want.ID != row.ID {
			rep.Add(eventstore.Problem{Kind: ProblemTicketUnexpected, TicketID: row.ID,
				Detail: fmt.Sprintf("ticket %s is in the read table but no event up to position %d issued it", row.ID, rep.Checkpoint)})
			continue
		}
		if diffs := want.diff(row); len(diffs) > 0 {
			rep.Add(eventstore.Problem{Kind: ProblemTicketDiffers, TicketID: row.ID, Position: want.IssuePosition,
				Detail: fmt.Sprintf("ticket %s differs from the fold of its events: %s", row.ID, strings.Join(diffs, "; "))})
		}
		if want, wantOK, err = streams.fold(&rep.Problems); err != nil {
			return err
		}
		folded++
		if progress != nil && folded%10000 == 0 {
			progress(folded)
		}
	}
	for ; wantOK; folded++ {
		missing(want)
		if want, wantOK, err = streams.fold(&rep.Problems); err != nil {
			return err
		}
	}
	if progress != nil {
		progress(folded)
	}
	return nil
}

// diff lists every field in which got differs from t, as "field: want X, got Y".
func (t Row) diff(got Row) []string {
	var diffs []string
	check := func(field string, want, have any) {
		if want != have {
			diffs = append(diffs, fmt.Sprintf("%s: log says %v, table has %v", field, want, have))
		}
	}
	optional := func(s *string) any {
		if s == nil {
			return "null"
		}
		return fmt.Sprintf("%q", *s)
	}
	optionalTime := func(at *time.Time) any {
		if at == nil {
			return "null"
		}
		return domain.FormatTime(*at)
	}
	check("issue_position", t.IssuePosition, got.IssuePosition)
	check("theater_name", t.TheaterName, got.TheaterName)
	check("user_id", t.UserID, got.UserID)
	check("movie_title", t.MovieTitle, got.MovieTitle)
	check("price_krw", t.PriceKRW, got.PriceKRW)
	check("status", t.Status, got.Status)
	check("memo", optional(t.Memo), optional(got.Memo))
	check("issued_at", domain.FormatTime(t.IssuedAt), domain.FormatTime(got.IssuedAt))
	check("canceled_at", optionalTime(t.CanceledAt), optionalTime(got.CanceledAt))
	check("version", t.Version, got.Version)
	return diffs
}

// streamFolder folds the events of the log, ordered by stream, one stream
// at a time.
type streamFolder struct {
	next    func() (eventstore.Record, error, bool)
	pending *eventstore.Record // the first record of the next stream, already read
}

// read returns the next event, nil at the end of the log.
func (f *streamFolder) read() (*eventstore.Record, error) {
	if f.pending != nil {
		r := f.pending
		f.pending = nil
		return r, nil
	}
	r, err, ok := f.next()
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

// fold folds the next stream that is a ticket and returns it; ok is false at
// the end of the log. Undecodable events are reported and skipped.
func (f *streamFolder) fold(problems *eventstore.Problems) (Row, bool, error) {
	for {
		r, err := f.read()
		if err != nil || r == nil {
			return Row{}, false, err
		}
		stream := r.StreamID
		var ticket Row
		for r != nil {
			if r.StreamID != stream {
				f.pending = r
				break
			}
			if e, err := r.Event(); err != nil {
				problems.Add(eventstore.Problem{Kind: ProblemUndecodableEvent, Position: r.Position, StreamID: r.StreamID, Detail: err.Error()})
			} else {
				if _, issued := e.(domain.TicketIssued); issued && ticket.IssuePosition == 0 {
					ticket.IssuePosition = r.Position
				}
				ticket.Ticket = domain.Evolve(ticket.Ticket, r.StreamID, e, r.OccurredAt)
			}
			if r, err = f.read(); err != nil {
				return Row{}, false, err
			}
		}
		if ticket.IssuePosition > 0 {
			return ticket, true, nil
		}
	}
}

// AuditLog is what Audit needs of the event log.
type AuditLog interface {
	eventstore.LogScanner
	Head() int64
}

// AuditReport is the verdict of Audit on a whole database.
type AuditReport struct {
	OK           bool   `json:"ok"`
	Events       int64  `json:"events"`
	Streams      int64  `json:"streams"`
	Tickets      int64  `json:"tickets"`
	LastPosition int64  `json:"last_position"`
	LastHash     string `json:"last_hash"`
	// Checkpoint is the position the tickets table had applied; the table is
	// compared with the log up to it.
	Checkpoint int64 `json:"checkpoint"`
	// SalesCheckpoint is the position the sales tables had applied; they
	// are compared with the log up to it.
	SalesCheckpoint int64   `json:"sales_checkpoint"`
	TookMS          float64 `json:"took_ms"`
	// FirstBreak is the problem at the lowest position, or nil.
	FirstBreak *eventstore.Problem `json:"first_break"`
	eventstore.Problems
}

// Include adds the problems of a check to rep and keeps OK and FirstBreak
// (the problem at the lowest position, else the first listed) up to date.
func (rep *AuditReport) Include(ps eventstore.Problems) {
	for _, p := range ps.List {
		rep.Add(p)
		if p.Position > 0 && (rep.FirstBreak == nil || rep.FirstBreak.Position == 0 || p.Position < rep.FirstBreak.Position) {
			rep.FirstBreak = &p
		}
	}
	rep.Count += ps.Count - len(ps.List)
	if rep.FirstBreak == nil && len(rep.List) > 0 {
		rep.FirstBreak = &rep.List[0]
	}
	rep.OK = rep.Count == 0
}

// Audit verifies the log (hash chain, gap-free positions, versions 1..n) and
// then the tickets table and the sales tables of tables against a fresh fold
// of the log. progress, when set,
// is called with the phase ("log": events checked of the head; "tickets":
// streams folded of all streams), the count done and the total expected. It returns an error only when the database cannot be read.
func Audit(ctx context.Context, log AuditLog, tables Tables, progress func(phase string, done, total int64)) (AuditReport, error) {
	start := time.Now()
	head := log.Head()
	report := func(phase string, total int64) func(int64) {
		if progress == nil {
			return nil
		}
		return func(done int64) { progress(phase, done, total) }
	}
	logRep, err := eventstore.VerifyLog(ctx, log, report("log", head))
	if err != nil {
		return AuditReport{}, err
	}
	ticketsRep, err := VerifyTickets(ctx, tables.Tickets, report("tickets", logRep.Streams))
	if err != nil {
		return AuditReport{}, err
	}
	salesRep, err := tables.Sales.Verify(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	rep := AuditReport{
		Events: logRep.Events, Streams: logRep.Streams, Tickets: ticketsRep.Tickets,
		LastPosition: logRep.LastPosition, LastHash: logRep.LastHash, Checkpoint: ticketsRep.Checkpoint,
		SalesCheckpoint: salesRep.Checkpoint,
	}
	rep.List = []eventstore.Problem{}
	rep.Include(logRep.Problems)
	rep.Include(ticketsRep.Problems)
	rep.Include(salesRep.Problems)
	rep.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}
