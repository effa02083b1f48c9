package projections

import (
	"context"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// AuditLog is what Audit needs of the event log.
type AuditLog interface {
	eventstore.LogScanner
	Log
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

// Audit verifies the log (hash chain, gap-free positions, versions 1..n),
// the invariant of showings' seats at every position (see CheckSeats), and
// then the tables of every read model in storage against a fresh fold of
// the log (see Verify). progress, when set, is called with the phase ("log":
// events checked of the head; "seats": positions folded of the head; then
// each model's Short name: positions
// folded of its checkpoint), the count done and the total expected. It
// returns an error only when the database cannot be read.
func Audit(ctx context.Context, log AuditLog, storage Storage, progress func(phase string, done, total int64)) (AuditReport, error) {
	start := time.Now()
	head := log.Head()
	logRep, err := eventstore.VerifyLog(ctx, log, func(done int64) {
		if progress != nil {
			progress("log", done, head)
		}
	})
	if err != nil {
		return AuditReport{}, err
	}
	rep := AuditReport{Events: logRep.Events, Streams: logRep.Streams, LastPosition: logRep.LastPosition, LastHash: logRep.LastHash}
	rep.List = []eventstore.Problem{}
	rep.Include(logRep.Problems)
	seats, err := CheckSeats(ctx, log, func(pos int64) {
		if progress != nil {
			progress("seats", pos, head)
		}
	})
	if err != nil {
		return AuditReport{}, err
	}
	rep.Include(seats)
	for _, m := range Models(log) {
		name := m.Schema().Name
		var checkpoint int64
		if progress != nil {
			checkpoint, err = storage.Tables(m.Schema()).Checkpoint(ctx)
			if err != nil {
				return AuditReport{}, err
			}
		}
		modelRep, err := Verify(ctx, log, m, storage, func(pos int64) {
			if progress != nil {
				progress(Short(name), pos, checkpoint)
			}
		})
		if err != nil {
			return AuditReport{}, err
		}
		switch name {
		case TicketsCheckpoint:
			rep.Tickets, rep.Checkpoint = modelRep.Rows[ticketsTable], modelRep.Checkpoint
		case SalesCheckpoint:
			rep.SalesCheckpoint = modelRep.Checkpoint
		}
		rep.Include(modelRep.Problems)
	}
	rep.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}
