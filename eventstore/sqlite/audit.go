package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ticketd/ticketd/eventstore"
)

// ScanLog calls fn with a snapshot of the log: one read transaction.
func (s *Store) ScanLog(ctx context.Context, fn func(eventstore.LogSnapshot) error) error {
	tx, err := s.readDB.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	return fn(snapshot{ctx: ctx, tx: tx})
}

// snapshot reads the log inside one read transaction.
type snapshot struct {
	ctx context.Context
	tx  *sql.Tx
}

func (sn snapshot) EachEvent(fn func(eventstore.Record) error) error {
	rows, err := sn.tx.QueryContext(sn.ctx, `SELECT `+recordColumns+` FROM events ORDER BY position`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

func (sn snapshot) VersionBreaks(fn func(eventstore.VersionBreak) error) error {
	rows, err := sn.tx.QueryContext(sn.ctx, `SELECT position, stream_id, version, previous FROM (
			SELECT position, stream_id, version, LAG(version) OVER (PARTITION BY stream_id ORDER BY position) AS previous FROM events)
		WHERE version != COALESCE(previous, 0) + 1 ORDER BY position`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b eventstore.VersionBreak
		var previous sql.NullInt64
		if err := rows.Scan(&b.Position, &b.StreamID, &b.Version, &previous); err != nil {
			return err
		}
		b.Previous = previous.Int64
		if err := fn(b); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

func (sn snapshot) Streams() (int64, error) {
	var n int64
	err := sn.tx.QueryRowContext(sn.ctx, `SELECT COUNT(DISTINCT stream_id) FROM events`).Scan(&n)
	return n, classify(err)
}

// StoredHash returns the hash stored at position, "" when it is NULL.
func (s *Store) StoredHash(ctx context.Context, position int64) (string, bool, error) {
	var hash sql.NullString
	err := s.readDB.QueryRowContext(ctx, `SELECT hash FROM events WHERE position = ?`, position).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, classify(err)
	}
	return hash.String, true, nil
}

var _ eventstore.Store = (*Store)(nil)
