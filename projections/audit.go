package projections

import (
	"context"
	"database/sql"
	"fmt"
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
func VerifyTickets(ctx context.Context, db *sql.DB, progress func(folded int64)) (TicketsReport, error) {
	var rep TicketsReport
	rep.List = []eventstore.Problem{}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return rep, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE name = ?), 0)`, TicketsCheckpoint).Scan(&rep.Checkpoint); err != nil {
		return rep, fmt.Errorf("read tickets checkpoint: %w", err)
	}
	streams, err := newStreamFolder(ctx, tx, rep.Checkpoint)
	if err != nil {
		return rep, err
	}
	defer streams.close()
	rows, err := tx.QueryContext(ctx, `SELECT issue_position, `+ticketColumns+` FROM tickets ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("read tickets table: %w", err)
	}
	defer rows.Close()

	var folded int64
	want, wantOK, err := streams.next(&rep.Problems)
	if err != nil {
		return rep, err
	}
	for rows.Next() {
		var row foldedTicket
		var issuePosition int64
		t, err := scanTicket(scanPrefix{rows, &issuePosition})
		if err != nil {
			return rep, err
		}
		row = foldedTicket{Ticket: t, issuePosition: issuePosition}
		rep.Tickets++
		for wantOK && want.ID < row.ID {
			rep.Add(eventstore.Problem{Kind: ProblemTicketMissing, TicketID: want.ID, Position: want.issuePosition,
				Detail: fmt.Sprintf("ticket %s was issued at position %d but has no row in the read table", want.ID, want.issuePosition)})
			if want, wantOK, err = streams.next(&rep.Problems); err != nil {
				return rep, err
			}
			folded++
		}
		if !wantOK || want.ID != row.ID {
			rep.Add(eventstore.Problem{Kind: ProblemTicketUnexpected, TicketID: row.ID,
				Detail: fmt.Sprintf("ticket %s is in the read table but no event up to position %d issued it", row.ID, rep.Checkpoint)})
			continue
		}
		if diffs := want.diff(row); len(diffs) > 0 {
			rep.Add(eventstore.Problem{Kind: ProblemTicketDiffers, TicketID: row.ID, Position: want.issuePosition,
				Detail: fmt.Sprintf("ticket %s differs from the fold of its events: %s", row.ID, strings.Join(diffs, "; "))})
		}
		if want, wantOK, err = streams.next(&rep.Problems); err != nil {
			return rep, err
		}
		folded++
		if progress != nil && folded%10000 == 0 {
			progress(folded)
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read tickets table: %w", err)
	}
	for ; wantOK; folded++ {
		rep.Add(eventstore.Problem{Kind: ProblemTicketMissing, TicketID: want.ID, Position: want.issuePosition,
			Detail: fmt.Sprintf("ticket %s was issued at position %d but has no row in the read table", want.ID, want.issuePosition)})
		if want, wantOK, err = streams.next(&rep.Problems); err != nil {
			return rep, err
		}
	}
	if progress != nil {
		progress(folded)
	}
	return rep, nil
}

// foldedTicket is a ticket with the position of its TicketIssued event, which
// is its place in issue order.
type foldedTicket struct {
	domain.Ticket
	issuePosition int64
}

// diff lists every field in which got differs from t, as "field: want X, got Y".
func (t foldedTicket) diff(got foldedTicket) []string {
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
	check("issue_position", t.issuePosition, got.issuePosition)
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

// scanPrefix scans a leading issue_position column before a ticket's columns.
type scanPrefix struct {
	rows          *sql.Rows
	issuePosition *int64
}

func (s scanPrefix) Scan(dest ...any) error {
	return s.rows.Scan(append([]any{s.issuePosition}, dest...)...)
}

// streamFolder reads the log ordered by stream and folds one stream at a time.
type streamFolder struct {
	rows    *sql.Rows
	pending *eventstore.Record // the first record of the next stream, already read
}

func newStreamFolder(ctx context.Context, tx *sql.Tx, until int64) (*streamFolder, error) {
	rows, err := tx.QueryContext(ctx, `SELECT position, stream_id, type, occurred_at, data FROM events
		WHERE position <= ? ORDER BY stream_id, version`, until)
	if err != nil {
		return nil, fmt.Errorf("read log by stream: %w", err)
	}
	return &streamFolder{rows: rows}, nil
}

func (f *streamFolder) close() { f.rows.Close() }

func (f *streamFolder) read() (*eventstore.Record, error) {
	if f.pending != nil {
		r := f.pending
		f.pending = nil
		return r, nil
	}
	if !f.rows.Next() {
		return nil, f.rows.Err()
	}
	var r eventstore.Record
	var occurredAt, data string
	if err := f.rows.Scan(&r.Position, &r.StreamID, &r.Type, &occurredAt, &data); err != nil {
		return nil, fmt.Errorf("read log by stream: %w", err)
	}
	at, err := domain.ParseTime(occurredAt)
	if err != nil {
		return nil, fmt.Errorf("event at position %d: occurred_at: %w", r.Position, err)
	}
	r.OccurredAt, r.Data = at, []byte(data)
	return &r, nil
}

// next folds the next stream that is a ticket and returns it; ok is false at
// the end of the log. Undecodable events are reported and skipped.
func (f *streamFolder) next(problems *eventstore.Problems) (foldedTicket, bool, error) {
	for {
		r, err := f.read()
		if err != nil || r == nil {
			return foldedTicket{}, false, err
		}
		stream := r.StreamID
		var ticket foldedTicket
		for r != nil {
			if r.StreamID != stream {
				f.pending = r
				break
			}
			if e, err := r.Event(); err != nil {
				problems.Add(eventstore.Problem{Kind: ProblemUndecodableEvent, Position: r.Position, StreamID: r.StreamID, Detail: err.Error()})
			} else {
				if _, issued := e.(domain.TicketIssued); issued && ticket.issuePosition == 0 {
					ticket.issuePosition = r.Position
				}
				ticket.Ticket = domain.Evolve(ticket.Ticket, r.StreamID, e, r.OccurredAt)
			}
			if r, err = f.read(); err != nil {
				return foldedTicket{}, false, err
			}
		}
		if ticket.issuePosition > 0 {
			return ticket, true, nil
		}
	}
}

// AuditLog is what Audit needs of the event log.
type AuditLog interface {
	VerifyLog(ctx context.Context, progress func(checked int64)) (eventstore.LogReport, error)
	ReadDB() *sql.DB
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
// then the tickets table and the sales tables against a fresh fold of the log. progress, when set,
// is called with the phase ("log": events checked of the head; "tickets":
// streams folded of all streams), the count done and the total expected. It returns an error only when the database cannot be read.
func Audit(ctx context.Context, log AuditLog, progress func(phase string, done, total int64)) (AuditReport, error) {
	start := time.Now()
	head := log.Head()
	report := func(phase string, total int64) func(int64) {
		if progress == nil {
			return nil
		}
		return func(done int64) { progress(phase, done, total) }
	}
	logRep, err := log.VerifyLog(ctx, report("log", head))
	if err != nil {
		return AuditReport{}, err
	}
	ticketsRep, err := VerifyTickets(ctx, log.ReadDB(), report("tickets", logRep.Streams))
	if err != nil {
		return AuditReport{}, err
	}
	salesRep, err := VerifySales(ctx, log.ReadDB())
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
