package sqlite

import (
	"context"
	"database/sql"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// CheckWritable commits one row of the write_probe table on the writer's
// connection, fsynced as every append is (synchronous=FULL), serialized with
// the group commits. So it fails, with a CodeUnavailable error, exactly while
// appends would: the store is read-only, the file or its filesystem refuses
// writes, the disk is full, fsync fails, or another connection holds the
// write lock. It waits for a group commit in progress; ctx bounds only the
// probe's statement.
func (s *Store) CheckWritable(ctx context.Context) error {
	if s.opts.ReadOnly {
		return eventstore.ErrReadOnly
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.inWriteTx(func(tx *sql.Tx) (eventstore.Tip, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, domain.FormatTime(s.opts.Now()))
		return eventstore.Tip{}, err
	})
	return err
}

// CheckHead reads the stored hash of the tip, the event the next append
// chains from, and fails as appends then do when it is broken (see
// headHash).
func (s *Store) CheckHead(ctx context.Context) error {
	position, _ := s.LogHead()
	_, err := headHash(ctx, s.readDB, position)
	return err
}
