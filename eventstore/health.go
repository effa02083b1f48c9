package eventstore

import (
	"context"
	"database/sql"

	"github.com/ticketd/ticketd/domain"
)

// CheckWritable writes one row of the write_probe table in a transaction
// serialized with the writer, so it fails, with a CodeUnavailable error,
// exactly when the file cannot take a write now: the store is read-only, the
// file or its filesystem refuses writes, the disk is full, or another
// connection holds the write lock. It waits for a group commit in progress;
// ctx bounds only the transaction itself.
func (s *Store) CheckWritable(ctx context.Context) error {
	return s.UpdateDerived(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, domain.FormatTime(s.opts.Now()))
		return err
	})
}
