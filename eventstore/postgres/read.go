package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

const recordColumns = `position, id, stream_id, version, type, occurred_at, data, metadata, prev_hash, hash`

// ReadStream returns every event of one stream, oldest first; an empty slice
// when the stream does not exist.
func (s *Store) ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 ORDER BY version`, streamID)
}

// ReadStreams returns every event of the given streams in position order,
// in one query.
func (s *Store) ReadStreams(ctx context.Context, streamIDs []string) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = ANY($1) ORDER BY position`, streamIDs)
}

// ReadStreamUntil returns the events of one stream committed at or before
// position, oldest first.
func (s *Store) ReadStreamUntil(ctx context.Context, streamID string, position int64) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND position <= $2 ORDER BY version`, streamID, position)
}

// ReadStreamAsOf returns the events of one stream that occurred at or before
// t, oldest first.
func (s *Store) ReadStreamAsOf(ctx context.Context, streamID string, t time.Time) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND occurred_at <= $2 COLLATE "C" ORDER BY version`, streamID, domain.FormatTime(t))
}

// ReadAll returns up to limit events with position > after, in position
// order, keeping only the given types when any are given. Events this store
// committed lately come from memory, unless other stores appended among or
// after them; the rest from the database, as ReadStored reads them.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	if records, ok := s.recent.Read(after, limit, types, s.Head()); ok {
		return records, nil
	}
	return s.ReadStored(ctx, after, limit, types...)
}

// ReadStored returns the events as the database holds them now. It fails
// with a *eventstore.CorruptEventError at an event whose data or metadata is
// not a JSON object.
func (s *Store) ReadStored(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	if len(types) == 0 {
		return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
	}
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE position > $1 AND type = ANY($3) ORDER BY position LIMIT $2`, after, limit, types)
}

// query returns the records query selects, checked as the SQLite store
// checks them.
func (s *Store) query(ctx context.Context, query string, args ...any) ([]eventstore.Record, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", classify(err))
	}
	records := []eventstore.Record{}
	err = forEachRecord(rows, func(r eventstore.Record) error {
		if err := r.CheckStoredJSON(); err != nil {
			return err
		}
		records = append(records, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", classify(err))
	}
	return records, nil
}

// forEachRecord calls fn with every row of rows, closing them.
func forEachRecord(rows pgx.Rows, fn func(eventstore.Record) error) error {
	defer rows.Close()
	for rows.Next() {
		var r eventstore.Record
		var occurredAt, data, metadata string
		var prevHash, hash *string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &occurredAt, &data, &metadata, &prevHash, &hash); err != nil {
			return err
		}
		at, err := domain.ParseTime(occurredAt)
		if err != nil {
			return fmt.Errorf("event at position %d: occurred_at: %w", r.Position, err)
		}
		r.OccurredAt, r.Data, r.Metadata = at, []byte(data), []byte(metadata)
		r.PrevHash, r.Hash = deref(prevHash), deref(hash)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// LookupIdempotency returns the record stored under key, or found=false.
func (s *Store) LookupIdempotency(ctx context.Context, key string) (rec eventstore.IdempotencyRecord, found bool, err error) {
	rec = eventstore.IdempotencyRecord{Key: key}
	var createdAt string
	err = s.pool.QueryRow(ctx, `SELECT endpoint, fingerprint, status, body, position, created_at FROM idempotency_keys WHERE key = $1`, key).
		Scan(&rec.Endpoint, &rec.Fingerprint, &rec.Status, &rec.Body, &rec.Position, &createdAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.IdempotencyRecord{}, false, nil
	}
	if err != nil {
		return eventstore.IdempotencyRecord{}, false, fmt.Errorf("look up idempotency key: %w", classify(err))
	}
	if rec.CreatedAt, err = domain.ParseTime(createdAt); err != nil {
		return eventstore.IdempotencyRecord{}, false, fmt.Errorf("idempotency key %q: created_at: %w", key, err)
	}
	return rec, true, nil
}

// PurgeIdempotency deletes records created before cutoff and returns how many
// it deleted; fenced by the store's LeaderLease, if any (see UpdateDerived).
func (s *Store) PurgeIdempotency(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.writeFenced(ctx, func(q pgx.Tx) error {
		tag, err := q.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1 COLLATE "C"`, domain.FormatTime(cutoff))
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// Checkpoint returns the position stored under name (a relay's or a
// projector's), 0 when none is stored.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, `SELECT position FROM checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", name, classify(err))
	}
	return pos, nil
}

// MoveCheckpoint sets checkpoint name from prev to pos in its own
// transaction, fenced by the store's LeaderLease, if any (see
// UpdateDerived); see eventstore.Checkpoints.
func (s *Store) MoveCheckpoint(ctx context.Context, name string, prev, pos int64) error {
	return s.writeFenced(ctx, func(tx pgx.Tx) error { return MoveCheckpointTx(ctx, tx, name, prev, pos) })
}

// MoveCheckpointTx sets checkpoint name from prev to pos inside tx, failing
// with eventstore.ErrCheckpointMoved when it is not prev (a missing row is
// 0). The UPDATE locks the row, so a competing writer waits for tx and then
// finds the checkpoint moved: call it before any other change of tx.
func MoveCheckpointTx(ctx context.Context, tx pgx.Tx, name string, prev, pos int64) error {
	tag, err := tx.Exec(ctx, `UPDATE checkpoints SET position = $3 WHERE name = $1 AND position = $2`, name, prev, pos)
	if err == nil && prev == 0 && tag.RowsAffected() == 0 {
		tag, err = tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, pos)
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("save checkpoint %s at %d after %d: %w", name, pos, prev, eventstore.ErrCheckpointMoved)
	}
	return nil
}

// CheckWritable commits one row of the write_probe table as appends commit
// (synchronous_commit=on), on a pooled connection, so it fails with a
// CodeUnavailable error exactly while appends would: the store is read-only,
// the database is unreachable, shutting down, read-only or out of disk, or a
// lock is held past the lock timeout.
func (s *Store) CheckWritable(ctx context.Context) error {
	if s.opts.ReadOnly {
		return eventstore.ErrReadOnly
	}
	return s.write(ctx, func(q Statements) error {
		_, err := q.Exec(ctx, `INSERT INTO write_probe (id, checked_at) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, domain.FormatTime(s.opts.Now()))
		return err
	})
}

// CheckHead reads the hash of the log's last event, which ticketd_append
// chains the next group from, and fails as appends then do when it is
// broken (see eventstore.CheckHeadHash).
func (s *Store) CheckHead(ctx context.Context) error {
	var position int64
	var hash *string
	err := s.pool.QueryRow(ctx, `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`).Scan(&position, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read the hash of the log's head: %w", classify(err))
	}
	return eventstore.CheckHeadHash(position, hash)
}

// ScanLog calls fn with one snapshot of the log (a read-only REPEATABLE
// READ transaction) without the statement timeout: one pass over the whole
// log may take longer than any bound fit for the service's statements.
func (s *Store) ScanLog(ctx context.Context, fn func(eventstore.LogSnapshot) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return classify(err)
	}
	return fn(snapshot{ctx: ctx, tx: tx})
}

// snapshot reads the log inside one read-only transaction.
type snapshot struct {
	ctx context.Context
	tx  pgx.Tx
}

func (sn snapshot) EachEvent(fn func(eventstore.Record) error) error {
	rows, err := sn.tx.Query(sn.ctx, `SELECT `+recordColumns+` FROM events ORDER BY position`)
	if err != nil {
		return classify(err)
	}
	return classify(forEachRecord(rows, fn))
}

func (sn snapshot) VersionBreaks(fn func(eventstore.VersionBreak) error) error {
	rows, err := sn.tx.Query(sn.ctx, `SELECT position, stream_id, version, COALESCE(previous, 0) FROM (
			SELECT position, stream_id, version, LAG(version) OVER (PARTITION BY stream_id ORDER BY position) AS previous FROM events) v
		WHERE version <> COALESCE(previous, 0) + 1 ORDER BY position`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b eventstore.VersionBreak
		if err := rows.Scan(&b.Position, &b.StreamID, &b.Version, &b.Previous); err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

func (sn snapshot) Streams() (int64, error) {
	var n int64
	err := sn.tx.QueryRow(sn.ctx, `SELECT COUNT(DISTINCT stream_id) FROM events`).Scan(&n)
	return n, classify(err)
}

// StoredHash returns the hash stored at position, "" when it is NULL.
func (s *Store) StoredHash(ctx context.Context, position int64) (string, bool, error) {
	var hash *string
	err := s.pool.QueryRow(ctx, `SELECT hash FROM events WHERE position = $1`, position).Scan(&hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, classify(err)
	}
	return deref(hash), true, nil
}

var _ eventstore.Store = (*Store)(nil)
