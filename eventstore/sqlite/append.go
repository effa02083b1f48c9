package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

type appendJob struct {
	req  eventstore.AppendRequest
	rows []eventstore.PendingEvent
	// imported, when set, replaces req: records to insert as they are (Import).
	imported []eventstore.Record
	outcome  chan eventstore.Outcome
	// span is the append's span, linked with its group commit's.
	span trace.Span
}

// Append commits req durably (fsynced) before returning. Concurrent appends
// share one transaction (group commit) but succeed or fail independently.
// It fails with an error wrapping ErrConcurrency on a version mismatch, with
// *KeyTakenError when the idempotency key exists, with a CodeUnavailable
// *domain.Error when storage cannot take writes or the store is closed.
//
// Once queued the append is carried out even if ctx ends; Append then still
// waits for its outcome, so a nil error always means committed.
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (_ eventstore.AppendResult, err error) {
	if s.opts.ReadOnly {
		return eventstore.AppendResult{}, eventstore.ErrReadOnly
	}
	ctx, span := eventstore.StartAppendSpan(ctx, s.tracer)
	defer func() { eventstore.EndAppendSpan(span, err) }()
	rows, err := eventstore.EncodeEvents(req)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	job := &appendJob{req: req, rows: rows, outcome: make(chan eventstore.Outcome, 1), span: span}
	if err := s.writer.Submit(ctx, job); err != nil {
		return eventstore.AppendResult{}, err
	}
	out := <-job.outcome
	return out.Result, out.Err
}

// commitBatch commits the jobs in one transaction, each inside its own
// savepoint so a failing job leaves its neighbours intact, then answers them.
// The first event chains from the hash stored for the tip, read in the same
// transaction: when it is broken (see headHash) the whole group fails, so
// nothing is ever appended after a broken head, also one broken while the
// store runs.
func (s *Store) commitBatch(batch []*appendJob) {
	span := eventstore.StartGroupCommitSpan(s.tracer, len(batch), func(i int) trace.Span { return batch[i].span })
	outcomes := make([]eventstore.Outcome, len(batch))
	start := time.Now()
	s.writeMu.Lock()
	now := s.opts.Now()
	if now.Before(s.lastCommit) {
		now = s.lastCommit
	}
	end, err := s.inWriteTx(func(tx *sql.Tx) (eventstore.Tip, error) {
		end := s.Tip()
		var err error
		if end.Hash, err = headHash(context.Background(), tx, end.Position); err != nil {
			return end, err
		}
		for i, job := range batch {
			if _, err := tx.Exec(`SAVEPOINT append_job`); err != nil {
				return end, err
			}
			result, err := s.applyJob(tx, job, end, now)
			if isStorageFault(err) {
				// The file cannot take this job, so it cannot take its
				// neighbours either: fail the whole commit.
				return end, err
			}
			if err != nil {
				if _, rbErr := tx.Exec(`ROLLBACK TO append_job`); rbErr != nil {
					return end, rbErr
				}
				outcomes[i].Err = err
			} else {
				outcomes[i].Result = result
				if n := len(result.Records); n > 0 {
					end = eventstore.Tip{Position: result.Position, Hash: result.Records[n-1].Hash}
				}
			}
			if _, err := tx.Exec(`RELEASE append_job`); err != nil {
				return end, err
			}
		}
		return end, nil
	})
	if err == nil {
		s.recent.AddCommitted(outcomes)
		s.lastCommit = now
		s.Advance(end)
	}
	s.writeMu.Unlock()
	s.headAlarm.Note(s.opts.Logger, s.path, err)
	info := eventstore.SettleGroup(outcomes, err, time.Since(start))
	span.End(err)
	for i, job := range batch {
		job.outcome <- outcomes[i]
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(info)
	}
}

// inWriteTx runs fn in a transaction of the writer's connection and commits
// it. On any failure it rolls back and returns the classified error.
// The caller holds writeMu.
func (s *Store) inWriteTx(fn func(tx *sql.Tx) (eventstore.Tip, error)) (eventstore.Tip, error) {
	s.reopenIfReadOnly()
	tx, err := s.writeDB.Begin()
	if err != nil {
		return eventstore.Tip{}, s.writeFailed(err)
	}
	end, err := fn(tx)
	if err != nil {
		tx.Rollback()
		return eventstore.Tip{}, s.writeFailed(err)
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		return eventstore.Tip{}, s.writeFailed(err)
	}
	return end, nil
}

// rowQuerier is a pool or a transaction to read one row through.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// headHash returns the hash stored for the event at position, the tip,
// through q: GenesisHash for an empty log, a *eventstore.BrokenHeadError
// when it is not one the next event can chain from or the event is gone.
func headHash(ctx context.Context, q rowQuerier, position int64) (string, error) {
	if position == 0 {
		return eventstore.GenesisHash, nil
	}
	var hash sql.NullString
	err := q.QueryRowContext(ctx, `SELECT hash FROM events WHERE position = ?`, position).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", &eventstore.BrokenHeadError{Position: position, Fault: "is missing from the database"}
	case err != nil:
		return "", fmt.Errorf("read the hash of the log's head: %w", classify(err))
	}
	var stored *string
	if hash.Valid {
		stored = &hash.String
	}
	return hash.String, eventstore.CheckHeadHash(position, stored)
}

// applyJob writes one append (or one imported batch) after end; the result's
// Position is the new head. Its errors (conflict, key taken, a broken
// imported chain, a failed statement) fail only this job.
func (s *Store) applyJob(tx *sql.Tx, job *appendJob, end eventstore.Tip, now time.Time) (eventstore.AppendResult, error) {
	if job.imported != nil {
		return insertImported(tx, job.imported, end)
	}
	req := job.req
	if rec := req.Idempotency; rec != nil {
		existing, found, err := lookupIdempotency(tx, rec.Key)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if found {
			return eventstore.AppendResult{}, &eventstore.KeyTakenError{Existing: existing}
		}
	}
	// A stream expected to exist at version n is checked here, and one
	// appended at any version continues from its version read here, in the
	// writer's transaction, after the group's earlier jobs. A stream
	// expected not to exist is not read: its first event takes version 1,
	// which UNIQUE(stream_id, version) refuses when the stream exists, and
	// that refusal is the conflict (insertRecord).
	versions := make([]int64, len(req.Streams))
	for i, sa := range req.Streams {
		if sa.ExpectedVersion == 0 {
			continue
		}
		var current int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?`, sa.StreamID).Scan(&current); err != nil {
			return eventstore.AppendResult{}, err
		}
		if sa.ExpectedVersion != eventstore.AnyVersion && current != sa.ExpectedVersion {
			return eventstore.AppendResult{}, eventstore.VersionConflict(sa.StreamID, current, sa.ExpectedVersion)
		}
		versions[i] = current
	}
	metadata, err := json.Marshal(req.Metadata)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	occurredAt := now.UTC().Truncate(time.Microsecond)
	records := make([]eventstore.Record, len(job.rows))
	for i, row := range job.rows {
		id, err := uuid.NewV7()
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		versions[row.Stream]++
		end.Position++
		records[i] = eventstore.Record{
			Position:   end.Position,
			ID:         id.String(),
			StreamID:   req.Streams[row.Stream].StreamID,
			Version:    versions[row.Stream],
			Type:       row.Type,
			OccurredAt: occurredAt,
			Data:       row.Data,
			Metadata:   metadata,
			PrevHash:   end.Hash,
		}
		records[i].Hash = records[i].ComputeHash()
		end.Hash = records[i].Hash
		if err := insertRecord(tx, records[i]); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	// Claims are decided after every stream is known to be at its expected
	// version, as the PostgreSQL store decides them.
	if err := applyClaims(tx, req, now); err != nil {
		return eventstore.AppendResult{}, err
	}
	if rec := req.Idempotency; rec != nil {
		stored := *rec
		stored.Position = end.Position
		stored.CreatedAt = occurredAt
		if err := insertIdempotency(tx, stored); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return eventstore.AppendResult{Records: records, Position: end.Position}, nil
}

// insertRecord writes r. A stream that already has r's version is a
// conflict: the error wraps ErrConcurrency.
func insertRecord(tx *sql.Tx, r eventstore.Record) error {
	_, err := tx.Exec(`INSERT INTO events (position, id, stream_id, version, type, data, metadata, occurred_at, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Position, r.ID, r.StreamID, r.Version, r.Type, string(r.Data), string(r.Metadata), domain.FormatTime(r.OccurredAt), r.PrevHash, r.Hash)
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique && strings.Contains(se.Error(), "events.stream_id, events.version") {
		return eventstore.VersionConflict(r.StreamID, -1, r.Version-1)
	}
	return err
}
