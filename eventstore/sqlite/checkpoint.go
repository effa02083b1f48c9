package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// SaveCheckpoint stores pos under name in its own derived-state transaction.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos int64) error {
	return s.UpdateDerived(ctx, func(tx *sql.Tx) error { return SaveCheckpointTx(tx, name, pos) })
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
