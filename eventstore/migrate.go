package eventstore

import (
	"database/sql"
	"fmt"
	"time"
)

// migrate brings a log written by an older ticketd up to the current schema:
// logs without a hash chain get the prev_hash and hash columns, and every
// event without a hash is chained in position order.
func (s *Store) migrate() error {
	var hasHash int
	if err := s.writeDB.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'hash'`).Scan(&hasHash); err != nil {
		return fmt.Errorf("inspect events table: %w", err)
	}
	if hasHash == 0 {
		if _, err := s.writeDB.Exec(`ALTER TABLE events ADD COLUMN prev_hash TEXT; ALTER TABLE events ADD COLUMN hash TEXT;`); err != nil {
			return fmt.Errorf("add hash columns: %w", classify(err))
		}
	}
	var unhashed int64
	if err := s.writeDB.QueryRow(`SELECT COUNT(*) FROM events WHERE hash IS NULL`).Scan(&unhashed); err != nil {
		return fmt.Errorf("count unhashed events: %w", err)
	}
	if unhashed == 0 {
		return nil
	}
	start := time.Now()
	s.opts.Logger.Info("migrating event log: filling the hash chain", "db", s.path, "events", unhashed)
	for {
		n, err := s.chainBatch(5000)
		if err != nil {
			return fmt.Errorf("fill hash chain: %w", classify(err))
		}
		if n == 0 {
			break
		}
	}
	s.opts.Logger.Info("event log migrated: hash chain filled", "db", s.path, "events", unhashed, "took_ms", time.Since(start).Milliseconds())
	return nil
}

// chainBatch hashes up to limit of the oldest unhashed events, in one
// transaction, chaining from the event before them; it returns how many.
func (s *Store) chainBatch(limit int) (int, error) {
	tx, err := s.writeDB.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	prev := GenesisHash
	err = tx.QueryRow(`SELECT hash FROM events WHERE hash IS NOT NULL AND position < (SELECT MIN(position) FROM events WHERE hash IS NULL)
		ORDER BY position DESC LIMIT 1`).Scan(&prev)
	if err != nil && err != sql.ErrNoRows {
		return 0, err
	}
	rows, err := tx.Query(`SELECT `+recordColumns+` FROM events WHERE hash IS NULL ORDER BY position LIMIT ?`, limit)
	if err != nil {
		return 0, err
	}
	var batch []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range batch {
		r.PrevHash = prev
		r.Hash = r.ComputeHash()
		if _, err := tx.Exec(`UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?`, r.PrevHash, r.Hash, r.Position); err != nil {
			return 0, err
		}
		prev = r.Hash
	}
	return len(batch), tx.Commit()
}
