package projections

import (
	"context"
	"iter"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// ErrCheckpointMoved is what a table's checkpoint write returns when the
// stored checkpoint is no longer the one the writer started from (see
// eventstore.ErrCheckpointMoved, which it is).
var ErrCheckpointMoved = eventstore.ErrCheckpointMoved

// Tables are the read models' tables of one database.
type Tables struct {
	Tickets TicketTable
	Sales   SalesTable
}

// TicketTable is the storage port of the tickets read model: its rows and
// the checkpoint committed with them, in the database of the event log.
// projections/sqlite implements it; the suite in projections/projectiontest
// holds every implementation to the same behaviour. Its methods are safe for
// concurrent use; storage faults come back as CodeUnavailable errors. No
// database handle or transaction crosses it: Update hands fn a TicketWriter
// bound to one transaction.
type TicketTable interface {
	// Checkpoint returns the position the table reflects, 0 for a new table.
	Checkpoint(ctx context.Context) (int64, error)
	// Update runs fn in one write transaction: the row changes fn makes and
	// the checkpoint it saves commit together, or (fn's error, the commit's)
	// none of them does.
	Update(ctx context.Context, fn func(TicketWriter) error) error
	// Get returns the row of ticket id, found=false when there is none.
	Get(ctx context.Context, id string) (t domain.Ticket, found bool, err error)
	// Issued returns the rows of the tickets issued at positions (ascending),
	// in that order; a position without a row is left out.
	Issued(ctx context.Context, positions []int64) ([]domain.Ticket, error)
	// EachEntry calls fn with the index entry of every row in issue order,
	// stopping at fn's first error and returning it.
	EachEntry(ctx context.Context, fn func(IndexEntry) error) error
	// Entries returns the index entries of the rows of tickets ids, by id;
	// an id without a row is left out.
	Entries(ctx context.Context, ids []string) (map[string]IndexEntry, error)
	// Rebuild empties the table and sets its checkpoint to 0 (from == 0),
	// then folds every event of the log in (from, to] into it as
	// domain.Evolve does and sets the checkpoint to to, in one transaction.
	Rebuild(ctx context.Context, from, to int64) error
	// Snapshot calls fn with one consistent state of the table and the log,
	// valid until fn returns, and returns fn's error or the snapshot's.
	Snapshot(ctx context.Context, fn func(TicketSnapshot) error) error
}

// TicketWriter changes the table inside one transaction of Update.
type TicketWriter interface {
	// Insert adds the row of a newly issued ticket.
	Insert(issuePosition int64, t domain.Ticket) error
	// Cancel marks ticket id canceled at canceledAt with its stream's new
	// version and returns its index entry; an error when it has no row.
	Cancel(id string, canceledAt time.Time, version int64) (IndexEntry, error)
	// SaveCheckpoint moves the checkpoint from prev to pos, the position
	// the table reflects once committed, and fails with ErrCheckpointMoved
	// when the stored checkpoint is not prev (no row counts as 0). Call it
	// before any row change: it locks the checkpoint, so that competing
	// writers wait for each other and all but one find it moved.
	SaveCheckpoint(prev, pos int64) error
}

// IndexEntry is what the list index holds of one ticket.
type IndexEntry struct {
	IssuePosition                   int64
	ID                              string
	TheaterName, UserID, MovieTitle string
	Canceled                        bool
}

// TicketSnapshot reads one state of the table and of the log together.
type TicketSnapshot interface {
	// Checkpoint is the position the table had applied.
	Checkpoint() int64
	// Rows yields every row ordered by ticket id, with its issue position.
	Rows() iter.Seq2[Row, error]
	// EventsByStream yields the events at or below until ordered by stream
	// and version, with their position, stream, type, time and data.
	EventsByStream(until int64) iter.Seq2[eventstore.Record, error]
}

// Row is a ticket with the position of its TicketIssued event, which is its
// place in issue order.
type Row struct {
	domain.Ticket
	IssuePosition int64
}
