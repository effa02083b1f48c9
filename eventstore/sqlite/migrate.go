package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// migration is one versioned change of the schema. Versions are 1, 2, ...
// in the order of migrations; each is applied once, in its own transaction
// together with its row in schema_migrations, as benbjohnson/wtf keeps its
// migrations.
type migration struct {
	name  string
	apply func(tx *sql.Tx) error
}

// migrations are the schema's versions, oldest first. Append only: a
// database records the versions applied to it.
var migrations = []migration{
	{name: "event log, idempotency keys, write probe and checkpoints", apply: execMigration(baseSchema)},
	{name: "hash chain: prev_hash and hash on every event", apply: chainLog},
	{name: "bounded counters and reservations", apply: execMigration(claimsSchema)},
}

// baseSchema is the schema before the hash chain. Its statements do nothing
// on a database that has them, as every database from before schema
// versions does.
const baseSchema = `
CREATE TABLE IF NOT EXISTS events (
	position    INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	stream_id   TEXT    NOT NULL,
	version     INTEGER NOT NULL CHECK (version >= 1),
	type        TEXT    NOT NULL,
	data        TEXT    NOT NULL,
	metadata    TEXT    NOT NULL,
	occurred_at TEXT    NOT NULL,
	UNIQUE (stream_id, version)
);
DROP INDEX IF EXISTS events_type_position;
DROP INDEX IF EXISTS events_occurred_at;
CREATE TABLE IF NOT EXISTS idempotency_keys (
	key         TEXT    PRIMARY KEY,
	endpoint    TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	status      INTEGER NOT NULL,
	body        BLOB    NOT NULL,
	position    INTEGER NOT NULL,
	created_at  TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE TABLE IF NOT EXISTS write_probe (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	checked_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
	name     TEXT    PRIMARY KEY,
	position INTEGER NOT NULL
) WITHOUT ROWID;
`

func execMigration(statements string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(statements)
		return err
	}
}

// migrate applies the migrations the database has not had, in order, and
// logs each (at debug level in a database Open created). A
// database whose version is newer than this ticketd's is refused. When every
// migration is applied it only reads, so a read-only file opens.
func (s *Store) migrate() error {
	version, err := s.schemaVersion()
	if err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("%s has schema version %d, newer than this ticketd's %d", s.path, version, len(migrations))
	}
	level := slog.LevelInfo
	if s.created {
		level = slog.LevelDebug // a new database, not worth an operator's notice
	}
	for i := version; i < len(migrations); i++ {
		start := time.Now()
		if err := s.applyMigration(i+1, migrations[i]); err != nil {
			return fmt.Errorf("schema migration %d (%s): %w", i+1, migrations[i].name, classify(err))
		}
		s.opts.Logger.Log(context.Background(), level, "schema migration applied", "db", s.path, "version", i+1, "migration", migrations[i].name, "took_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// schemaVersion returns the highest migration applied, 0 for a database
// without schema_migrations.
func (s *Store) schemaVersion() (int, error) {
	var tables, version int
	if err := s.writeDB.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("read schema version: %w", classify(err))
	}
	if tables == 0 {
		return 0, nil
	}
	if err := s.writeDB.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("read schema version: %w", classify(err))
	}
	return version, nil
}

// applyMigration applies m as the given version and records it, atomically.
func (s *Store) applyMigration(version int, m migration) error {
	tx, err := s.writeDB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	)`); err != nil {
		return err
	}
	if err := m.apply(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, m.name, domain.FormatTime(s.opts.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// chainBatch is how many events chainLog reads at a time.
const chainBatch = 5000

// chainLog gives a log written before the hash chain its prev_hash and hash
// columns and hashes every event in position order, from GenesisHash. A log
// that has the columns (one written by a ticketd that chained as it
// appended, before schema versions were recorded) is left exactly as it is:
// its hashes, NULL or forged ones included, are the evidence verify checks.
func chainLog(tx *sql.Tx) error {
	var chained int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'hash'`).Scan(&chained); err != nil {
		return err
	}
	if chained > 0 {
		return nil
	}
	if _, err := tx.Exec(`ALTER TABLE events ADD COLUMN prev_hash TEXT; ALTER TABLE events ADD COLUMN hash TEXT;`); err != nil {
		return err
	}
	end := eventstore.Tip{Hash: eventstore.GenesisHash}
	for {
		batch, err := readAfter(tx, end.Position)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			r.PrevHash = end.Hash
			r.Hash = r.ComputeHash()
			if _, err := tx.Exec(`UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?`, r.PrevHash, r.Hash, r.Position); err != nil {
				return err
			}
			end = eventstore.Tip{Position: r.Position, Hash: r.Hash}
		}
	}
}

// readAfter reads up to chainBatch events after position in tx.
func readAfter(tx *sql.Tx, position int64) ([]eventstore.Record, error) {
	rows, err := tx.Query(`SELECT `+recordColumns+` FROM events WHERE position > ? ORDER BY position LIMIT ?`, position, chainBatch)
	if err != nil {
		return nil, err
	}
	return scanRecords(rows)
}
