package sqlite

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ticketd/ticketd/eventstore"
)

// sqliteMagic opens the header of every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// fileState is what Open finds at the database path before SQLite opens it.
type fileState struct {
	exists bool
	// empty is a zero-byte file, which SQLite takes for a new database.
	empty bool
	// wal is a header that asks for WAL mode; walFile and shmFile say whether
	// the -wal and -shm files beside it exist.
	wal, walFile, shmFile bool
	// live says that a writable store holds the file's lock now.
	live bool
}

// inspectFile reads path's SQLite header without opening it as a database,
// so that nothing is written to or created beside a file that is not one.
func inspectFile(path string) (fileState, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, fmt.Errorf("open database: %w", err)
	}
	defer f.Close()
	var header [100]byte
	n, err := io.ReadFull(f, header[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return fileState{exists: true, empty: true}, nil
	case errors.Is(err, io.ErrUnexpectedEOF) || (err == nil && string(header[:len(sqliteMagic)]) != sqliteMagic):
		return fileState{}, fmt.Errorf("%s is not a SQLite database", path)
	case err != nil:
		return fileState{}, fmt.Errorf("read database %s: %w", path, err)
	}
	return fileState{exists: true, wal: header[18] == 2, walFile: fileExists(path + "-wal"), shmFile: fileExists(path + "-shm"), live: lockHeld(path)}, nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// readOnlyParams are the URI parameters that read the file in state without
// writing to it or creating anything beside it. A rollback-journal file is
// read as it is (no switch to WAL). A WAL file without a -wal holds every
// commit itself and is opened immutable, because SQLite creates the -wal and
// -shm to read a WAL file otherwise. A live database is read through the
// -wal and -shm its writer keeps; one whose writer is gone (a crash) through
// a read-only -shm, which SQLite then leaves as it is and indexes the -wal in
// memory. (With a live writer a read-only -shm could fail a read.)
func readOnlyParams(state fileState) url.Values {
	q := url.Values{}
	q.Set("mode", "ro")
	switch {
	case state.wal && !state.walFile:
		q.Set("immutable", "1")
	case state.wal && !state.live:
		q.Set("readonly_shm", "1")
	}
	q.Set("_query_only", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_stmt_cache_size", "64")
	return q
}

// schemaKind is what a database file holds.
type schemaKind int

const (
	schemaNone    schemaKind = iota // no tables: a new database
	schemaTicketd                   // ticketd's event log
	schemaForeign                   // tables, but not ticketd's
)

// eventColumns are the columns of the event log that every ticketd version has.
var eventColumns = []any{"position", "id", "stream_id", "version", "type", "data", "metadata", "occurred_at"}

// inspectSchema tells, through a read-only connection, whether the existing
// file at path is a new database, ticketd's, or another application's.
func inspectSchema(path string, state fileState) (schemaKind, error) {
	if state.empty {
		return schemaNone, nil
	}
	db, err := openDB(path, readOnlyParams(state), false)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var tables, columns int
	err = db.QueryRow(`SELECT (SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'),
		(SELECT COUNT(*) FROM pragma_table_info('events') WHERE name IN (?`+strings.Repeat(", ?", len(eventColumns)-1)+`))`,
		eventColumns...).Scan(&tables, &columns)
	switch {
	case err != nil:
		return 0, fmt.Errorf("read schema of %s: %w", path, classify(err))
	case tables == 0:
		return schemaNone, nil
	case columns == len(eventColumns):
		return schemaTicketd, nil
	}
	return schemaForeign, nil
}

// checkFile refuses, in one line naming path, a file Open must not use: a
// missing one unless opts.Mode says to create it (checking the folder
// eventstore.CreateInFolder needs), and a database with tables but not
// ticketd's, or without any under eventstore.MustExist (an error wrapping
// eventstore.ErrNoDatabase, as is that of a missing file). A WAL file with a -wal but no -shm cannot be
// read without creating the -shm: a read-only store refuses it, a writable
// one takes it unchecked, for SQLite to recover.
func checkFile(path string, state fileState, opts Options) error {
	orphanWAL := state.wal && state.walFile && !state.shmFile
	switch {
	case !state.exists:
		return checkMissing(path, opts.Mode)
	case orphanWAL && opts.ReadOnly:
		return fmt.Errorf("%s has a write-ahead log but no -shm index beside it, which reading it would create (run ticketd replay on it first)", path)
	case orphanWAL:
		return nil
	}
	kind, err := inspectSchema(path, state)
	switch {
	case err != nil:
		return err
	case kind == schemaForeign:
		return fmt.Errorf("%s is a SQLite database of another application (it has tables but no ticketd event log); refusing to use it", path)
	case kind == schemaNone && opts.Mode == eventstore.MustExist:
		return fmt.Errorf("%s is not a ticketd database: %w", path, eventstore.ErrNoDatabase)
	}
	return nil
}

func checkMissing(path string, mode eventstore.OpenMode) error {
	dir := filepath.Dir(path)
	switch mode {
	case eventstore.MustExist:
		return fmt.Errorf("%s does not exist: %w", path, eventstore.ErrNoDatabase)
	case eventstore.CreateInFolder:
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return fmt.Errorf("%s: folder %s does not exist; create it first", path, dir)
		}
	case eventstore.CreateMissing:
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create database folder: %w", err)
		}
	}
	return nil
}

// prepareUnwritable creates, writable by its owner, the missing -shm index
// of a file this process cannot write. SQLite would create it with the
// file's own mode, read-only, and a -shm it cannot write keeps the store from
// writing even once the file is made writable. SQLite gives an empty -shm
// the file's mode too, so this one holds 3 bytes, as SQLite truncates it to
// before it initializes it. (SQLite heals an empty read-only -wal by itself.)
// Failures are left for SQLite to report.
func prepareUnwritable(path string) {
	info, err := os.Stat(path)
	if err != nil {
		return
	}
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		return
	}
	if f, err := os.OpenFile(path+"-shm", os.O_RDWR|os.O_CREATE|os.O_EXCL, info.Mode().Perm()|0o200); err == nil {
		f.Truncate(3)
		f.Close()
	}
}

// removeEmptyWAL removes an empty -wal and the -shm beside it, which SQLite
// leaves when its connections could not write the file (so could not
// checkpoint): they hold nothing, and SQLite creates the -wal with the
// file's mode, so it would stay read-only once the file is made writable.
func removeEmptyWAL(path string) {
	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() == 0 {
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
	}
}

// removeFiles removes path and the files SQLite keeps beside it.
func removeFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
