package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ticketd/ticketd/eventstore"
)

// Import appends records exactly as given (positions, ids, times, data,
// metadata and hashes), as exported by another ticketd. They must continue
// the log: the first at position head+1 chaining from the head's hash, each
// with the hash ComputeHash gives, versions continuing their streams. Either
// the whole batch is committed, or nothing is (error wrapping ErrChain,
// ErrConcurrency, or a storage error).
func (s *Store) Import(ctx context.Context, records []eventstore.Record) error {
	if len(records) == 0 {
		return nil
	}
	job := &appendJob{imported: records, outcome: make(chan eventstore.Outcome, 1)}
	if err := s.writer.Submit(ctx, job); err != nil {
		return err
	}
	return (<-job.outcome).Err
}

func insertImported(tx *sql.Tx, records []eventstore.Record, end eventstore.Tip) (eventstore.AppendResult, error) {
	for _, r := range records {
		if err := eventstore.CheckContinues(r, end.Position, end.Hash); err != nil {
			return eventstore.AppendResult{}, err
		}
		var current int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?`, r.StreamID).Scan(&current); err != nil {
			return eventstore.AppendResult{}, err
		}
		if r.Version != current+1 {
			return eventstore.AppendResult{}, fmt.Errorf("position %d: stream %s is at version %d, event has %d: %w", r.Position, r.StreamID, current, r.Version, eventstore.ErrConcurrency)
		}
		if err := insertRecord(tx, r); err != nil {
			return eventstore.AppendResult{}, err
		}
		end = eventstore.Tip{Position: r.Position, Hash: r.Hash}
	}
	return eventstore.AppendResult{Records: records, Position: end.Position}, nil
}
