package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ticketd/ticketd/eventstore"
)

// Checkpoint returns the position stored under name (a relay's or a
// projector's), 0 when none is stored.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.readDB.QueryRowContext(ctx, `SELECT position FROM checkpoints WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", name, classify(err))
	}
	return pos, nil
}

// MoveCheckpoint sets checkpoint name from prev to pos in its own
// derived-state transaction; see eventstore.Checkpoints.
func (s *Store) MoveCheckpoint(ctx context.Context, name string, prev, pos int64) error {
	return s.UpdateDerived(ctx, func(tx *sql.Tx) error { return MoveCheckpointTx(ctx, tx, name, prev, pos) })
}

// MoveCheckpointTx sets checkpoint name from prev to pos inside tx, failing
// with eventstore.ErrCheckpointMoved when it is not prev (a missing row is
// 0). The UPDATE comes first, so a writer that calls it before any other
// change of tx finds the checkpoint moved rather than applying twice.
func MoveCheckpointTx(ctx context.Context, tx *sql.Tx, name string, prev, pos int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE checkpoints SET position = ? WHERE name = ? AND position = ?`, pos, name, prev)
	if err == nil && prev == 0 {
		if n, _ := res.RowsAffected(); n == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, pos)
		}
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("save checkpoint %s at %d after %d: %w", name, pos, prev, eventstore.ErrCheckpointMoved)
	}
	return nil
}

// SaveCheckpointTx stores pos under name inside tx, so a consumer can commit
// its checkpoint with the changes it made up to that position.
func SaveCheckpointTx(tx *sql.Tx, name string, pos int64) error {
	_, err := tx.Exec(`INSERT INTO checkpoints (name, position) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, pos)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}
