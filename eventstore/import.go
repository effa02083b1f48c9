package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrChain reports an imported event whose position, prev_hash or hash does
// not continue the log; it is returned wrapped with the position.
var ErrChain = errors.New("event does not continue the hash chain")

// Import appends records exactly as given (positions, ids, times, data,
// metadata and hashes), as exported by another ticketd. They must continue
// the log: the first at position head+1 chaining from the head's hash, each
// with the hash ComputeHash gives, versions continuing their streams. Either
// the whole batch is committed, or nothing is (error wrapping ErrChain,
// ErrConcurrency, or a storage error).
func (s *Store) Import(ctx context.Context, records []Record) error {
	if len(records) == 0 {
		return nil
	}
	job := &appendJob{imported: records, outcome: make(chan Outcome, 1)}
	select {
	case s.jobs <- job:
	case <-s.stop:
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return (<-job.outcome).Err
}

func insertImported(tx *sql.Tx, records []Record, end tip) (AppendResult, error) {
	for _, r := range records {
		switch {
		case r.Position != end.position+1:
			return AppendResult{}, fmt.Errorf("position %d follows %d: %w", r.Position, end.position, ErrChain)
		case r.PrevHash != end.hash:
			return AppendResult{}, fmt.Errorf("position %d: prev_hash %s is not the hash of position %d: %w", r.Position, r.PrevHash, end.position, ErrChain)
		case r.ComputeHash() != r.Hash:
			return AppendResult{}, fmt.Errorf("position %d: content does not match its hash %s: %w", r.Position, r.Hash, ErrChain)
		}
		var current int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?`, r.StreamID).Scan(&current); err != nil {
			return AppendResult{}, err
		}
		if r.Version != current+1 {
			return AppendResult{}, fmt.Errorf("position %d: stream %s is at version %d, event has %d: %w", r.Position, r.StreamID, current, r.Version, ErrConcurrency)
		}
		if err := insertRecord(tx, r); err != nil {
			return AppendResult{}, err
		}
		end = tip{position: r.Position, hash: r.Hash}
	}
	return AppendResult{Records: records, Position: end.position}, nil
}
