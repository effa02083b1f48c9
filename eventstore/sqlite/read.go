package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

const recordColumns = `position, id, stream_id, version, type, occurred_at, data, metadata, prev_hash, hash`

// ReadStream returns every event of one stream, oldest first; an empty slice
// when the stream does not exist.
func (s *Store) ReadStream(ctx context.Context, streamID string) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = ? ORDER BY version`, streamID)
}

// streamsPerRead bounds the streams one query of ReadStreams names, well
// under SQLite's limit on a statement's parameters.
const streamsPerRead = 500

// ReadStreams returns every event of the given streams in position order,
// one query per streamsPerRead of them.
func (s *Store) ReadStreams(ctx context.Context, streamIDs []string) ([]eventstore.Record, error) {
	records := []eventstore.Record{}
	for ids := range slices.Chunk(streamIDs, streamsPerRead) {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		read, err := s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id IN (?`+strings.Repeat(`,?`, len(ids)-1)+`) ORDER BY position`, args...)
		if err != nil {
			return nil, err
		}
		records = append(records, read...)
	}
	if len(streamIDs) > streamsPerRead {
		slices.SortFunc(records, func(a, b eventstore.Record) int { return cmp.Compare(a.Position, b.Position) })
	}
	return records, nil
}

// ReadStreamUntil returns the events of one stream committed at or before
// position, oldest first.
func (s *Store) ReadStreamUntil(ctx context.Context, streamID string, position int64) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = ? AND position <= ? ORDER BY version`, streamID, position)
}

// ReadStreamAsOf returns the events of one stream that occurred at or before
// t, oldest first.
func (s *Store) ReadStreamAsOf(ctx context.Context, streamID string, t time.Time) ([]eventstore.Record, error) {
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = ? AND occurred_at <= ? ORDER BY version`, streamID, domain.FormatTime(t))
}

// ReadAll returns up to limit events with position > after, in position
// order, keeping only the given types when any are given. Events near the
// head come from memory; older ones from the database, as ReadStored reads
// them.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	if records, ok := s.recent.Read(after, limit, types, s.Head()); ok {
		return records, nil
	}
	return s.ReadStored(ctx, after, limit, types...)
}

// ReadStored is ReadAll from the database alone: the events as the file
// holds them now, for readers that must see what is stored (auditors), not
// what this process committed. It fails with a *CorruptEventError at an
// event whose data or metadata is not a JSON object.
func (s *Store) ReadStored(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	if len(types) == 0 {
		return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE position > ? ORDER BY position LIMIT ?`, after, limit)
	}
	args := []any{after}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, limit)
	placeholders := strings.TrimSuffix(strings.Repeat("?,", len(types)), ",")
	return s.query(ctx, `SELECT `+recordColumns+` FROM events WHERE position > ? AND type IN (`+placeholders+`) ORDER BY position LIMIT ?`, args...)
}

// query returns the records query selects. It fails with a
// *CorruptEventError when a stored event's data or metadata is not a JSON
// object, so that no reader serves or skips a corrupt event unnoticed.
func (s *Store) query(ctx context.Context, query string, args ...any) ([]eventstore.Record, error) {
	rows, err := s.QueryRead(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", classify(err))
	}
	records, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", classify(err))
	}
	return records, nil
}

// scanRecords reads every row of rows, closing them; never nil on success.
func scanRecords(rows *sql.Rows) ([]eventstore.Record, error) {
	defer rows.Close()
	records := []eventstore.Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if err := r.CheckStoredJSON(); err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	return records, rows.Err()
}

func scanRecord(rows *sql.Rows) (eventstore.Record, error) {
	var r eventstore.Record
	var occurredAt, data, metadata string
	var prevHash, hash sql.NullString
	if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &occurredAt, &data, &metadata, &prevHash, &hash); err != nil {
		return eventstore.Record{}, fmt.Errorf("read events: %w", err)
	}
	at, err := domain.ParseTime(occurredAt)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("event at position %d: occurred_at: %w", r.Position, err)
	}
	r.OccurredAt = at
	r.Data = []byte(data)
	r.Metadata = []byte(metadata)
	r.PrevHash, r.Hash = prevHash.String, hash.String
	return r, nil
}
