package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// LookupIdempotency returns the record stored under key, or found=false.
func (s *Store) LookupIdempotency(ctx context.Context, key string) (rec eventstore.IdempotencyRecord, found bool, err error) {
	rec, found, err = lookupIdempotency(queryerContext{ctx, s.readDB}, key)
	return rec, found, classify(err)
}

// PurgeIdempotency deletes records created before cutoff and returns how many
// it deleted.
func (s *Store) PurgeIdempotency(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.UpdateDerived(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, domain.FormatTime(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

type rowQueryer interface {
	QueryRow(query string, args ...any) *sql.Row
}

// queryerContext adapts a *sql.DB to rowQueryer under a context.
type queryerContext struct {
	ctx context.Context
	db  *sql.DB
}

func (q queryerContext) QueryRow(query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(q.ctx, query, args...)
}

func lookupIdempotency(q rowQueryer, key string) (eventstore.IdempotencyRecord, bool, error) {
	rec := eventstore.IdempotencyRecord{Key: key}
	var createdAt string
	err := q.QueryRow(`SELECT endpoint, fingerprint, status, body, position, created_at FROM idempotency_keys WHERE key = ?`, key).
		Scan(&rec.Endpoint, &rec.Fingerprint, &rec.Status, &rec.Body, &rec.Position, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.IdempotencyRecord{}, false, nil
	}
	if err != nil {
		return eventstore.IdempotencyRecord{}, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	if rec.CreatedAt, err = domain.ParseTime(createdAt); err != nil {
		return eventstore.IdempotencyRecord{}, false, fmt.Errorf("idempotency key %q: created_at: %w", key, err)
	}
	return rec, true, nil
}

func insertIdempotency(tx *sql.Tx, rec eventstore.IdempotencyRecord) error {
	_, err := tx.Exec(`INSERT INTO idempotency_keys (key, endpoint, fingerprint, status, body, position, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		rec.Key, rec.Endpoint, rec.Fingerprint, rec.Status, rec.Body, rec.Position, domain.FormatTime(rec.CreatedAt))
	return err
}
