package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// TestStoreContract runs the engine-neutral store suite on SQLite files,
// with the file lock, read-only opens and direct edits of the file.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Factory{
		NewDatabase: func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "app.db") },
		Open: func(db string, opts storetest.Options) (eventstore.Store, error) {
			return sqlite.Open(db, sqlite.Options{Now: opts.Now, OnCommit: opts.OnCommit, Mode: opts.Mode})
		},
	}, storetest.Features{
		ExclusiveWriter: true,
		OpenReadOnly: func(db string) (eventstore.Store, error) {
			return sqlite.Open(db, sqlite.Options{ReadOnly: true})
		},
		SetColumn: setColumn,
	})
}

// setColumn sets column of the event at position to value (nil: NULL)
// through a connection of its own.
func setColumn(tb testing.TB, path string, position int64, column string, value *string) {
	tb.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE events SET `+column+` = ? WHERE position = ?`, value, position); err != nil {
		tb.Fatal(err)
	}
}

// MustOpenStore opens a store on a fresh file in tb's temp dir and closes it
// at the end of the test.
func MustOpenStore(tb testing.TB, opts sqlite.Options) (*sqlite.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "app.db")
	s, err := sqlite.Open(path, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpenReadOnlyRefusesAFileThatIsNotAnEventLog(t *testing.T) {
	t.Parallel()
	if _, err := sqlite.Open(filepath.Join(t.TempDir(), "missing.db"), sqlite.Options{ReadOnly: true}); err == nil {
		t.Fatal("opened a missing file read-only")
	}
}

// TestOpenMigratesAPreChainLogOnce opens a genuine log from before the hash
// chain: its one explicit migration chains every event, is recorded as a
// schema version and runs once; the second open migrates nothing.
func TestOpenMigratesAPreChainLogOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	// The events table as the first ticketd release wrote it.
	first, second := storetest.Stored(storetest.SampleEvent(1)), storetest.Stored(storetest.SampleFollowUp())
	_, err = db.Exec(`CREATE TABLE events (
		position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
		version INTEGER NOT NULL CHECK (version >= 1), type TEXT NOT NULL, data TEXT NOT NULL,
		metadata TEXT NOT NULL, occurred_at TEXT NOT NULL, UNIQUE (stream_id, version));
	INSERT INTO events VALUES
		(1, 'e1', 's1', 1, ?, ?, '{}', '2026-11-25T10:00:00.000000Z'),
		(2, 'e2', 's1', 2, ?, ?, '{}', '2026-11-25T10:00:01.000000Z');`, first.Type, first.Data, second.Type, second.Data)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := sqlite.Open(path, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "version=2") || !strings.Contains(logs.String(), "hash chain") {
		t.Fatalf("no log line of the hash chain migration:\n%s", logs.String())
	}
	rep, err := eventstore.VerifyLog(context.Background(), s, nil)
	if err != nil || rep.Count != 0 || rep.Events != 2 {
		t.Fatalf("verify after migration = %+v, %v", rep, err)
	}
	if _, err := s.Append(context.Background(), storetest.RefundRequest("s1", 2)); err != nil {
		t.Fatal(err)
	}
	if rep, _ := eventstore.VerifyLog(context.Background(), s, nil); rep.Count != 0 || rep.Events != 3 {
		t.Fatalf("verify after appending to a migrated log = %+v", rep)
	}
	s.Close()

	logs.Reset()
	s, err = sqlite.Open(path, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Contains(logs.String(), "migration") {
		t.Fatalf("second open migrated again:\n%s", logs.String())
	}
	var versions string
	if err := s.ReadDB().QueryRow(`SELECT group_concat(version, ',') FROM (SELECT version FROM schema_migrations ORDER BY version)`).Scan(&versions); err != nil || versions != "1,2,3" {
		t.Fatalf("schema_migrations = %q, %v; want versions 1,2,3", versions, err)
	}
}
