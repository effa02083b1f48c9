// Package sqlite is ticketd's event log in one SQLite file, an
// eventstore.Store: appends with optimistic concurrency through one
// group-committing writer (gap-free positions assigned in memory, guarded by
// an exclusive file lock), reads of one stream or of the global log,
// idempotency records, checkpoints, versioned migrations and read-only opens
// that change no byte of the file.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/groupcommit"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// MaxBatch caps how many appends one group commit takes. Default 256.
	MaxBatch int
	// Now is the clock stamped on events. Default time.Now.
	Now func() time.Time
	// ReadOnly opens the file for reading only: appends fail, and no byte of
	// the file changes and no file is created. For tools that inspect a
	// database, live or not.
	ReadOnly bool
	// Mode says what Open does when the file holds no event log (is
	// missing or empty). Default eventstore.CreateMissing; ReadOnly implies
	// eventstore.MustExist.
	Mode eventstore.OpenMode
	// OnCommit, when set, is called by the writer after every group commit
	// attempt. It must be fast and must not call the Store.
	OnCommit func(eventstore.CommitInfo)
	// Logger receives notices such as schema migrations. Default slog.Default().
	Logger *slog.Logger
	// TracerProvider traces appends: a span per Append in the caller's
	// trace, and one per group commit, linked with the appends it carried.
	// Default: a provider that records nothing.
	TracerProvider trace.TracerProvider
}

func (o *Options) setDefaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
}

// Store is the event log in one SQLite file, an eventstore.Store. Appends go through a single
// writer goroutine that commits concurrent appends together; reads use a
// pool of connections and never block the writer (WAL mode).
//
// Store is safe for concurrent use. Close it to flush pending appends.
type Store struct {
	opts   Options
	path   string
	tracer trace.Tracer

	lock *os.File // exclusive advisory lock of writable stores
	// created says whether Open created the database file, which Abandon
	// then removes (Close removes the lock file in any case).
	created   bool
	writeDB   *sql.DB // the writer's connection: synchronous=FULL, every commit durable
	derivedDB *sql.DB // derived-state connection: synchronous=NORMAL, see UpdateDerived
	readDB    *sql.DB
	// readStatements are readDB's prepared statements (ReadStatement).
	readStatements *statementCache

	// writeMu serializes every write transaction on the file, so the writer
	// and UpdateDerived never meet SQLite's busy lock; UpdateDerived's pass
	// first.
	writeMu writeGate
	// LogEnd is the last committed event, moved by the writer under writeMu.
	eventstore.LogEnd
	// lastCommit is the time stamped on the last commit, guarded by writeMu.
	lastCommit time.Time
	// recent caches the events committed since the store opened.
	recent *eventstore.RecentLog
	// readOnlyConns is set while the write connections are read-only: SQLite
	// opened them so because the file was not writable then, and only
	// reopening them can find it writable again, which reopenIfReadOnly
	// does from reopenAt on. Both are guarded by writeMu.
	readOnlyConns bool
	reopenAt      time.Time
	// headAlarm logs when appends stop at a broken head and resume.
	headAlarm eventstore.HeadAlarm

	writer *groupcommit.Writer[*appendJob]
}

// Open opens the event log at path; unless opts.ReadOnly it takes the
// file's lock, brings its schema up to date (see migrate) and starts the
// writer. A missing file is handled as opts.Mode says. It fails, in one
// line naming path, when the file is not a SQLite database, is one with
// tables but no ticketd event log, holds no log under eventstore.MustExist
// (wrapping eventstore.ErrNoDatabase), cannot be opened, or (ErrLocked) is
// open for writing in another process. A failed Open leaves no file it created.
func Open(path string, opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.ReadOnly {
		opts.Mode = eventstore.MustExist
	}
	state, err := inspectFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkFile(path, state, opts); err != nil {
		return nil, err
	}
	s := &Store{
		opts:    opts,
		path:    path,
		tracer:  opts.TracerProvider.Tracer(eventstore.TracerName),
		created: !state.exists,
		writer:  groupcommit.NewWriter[*appendJob](opts.MaxBatch, eventstore.ErrStoreClosed),
	}
	if opts.ReadOnly {
		if s.readDB, err = openDB(path, readOnlyParams(state), false); err != nil {
			return nil, err
		}
		s.readStatements = &statementCache{db: s.readDB}
		return s, s.fail(s.loadTip())
	}
	if s.lock, err = lockFile(path); err != nil {
		return nil, err
	}
	prepareUnwritable(path)
	if err := s.fail(s.openDBs()); err != nil {
		return nil, err
	}
	if err := s.fail(s.migrate()); err != nil {
		return nil, err
	}
	if err := s.fail(s.loadTip()); err != nil {
		return nil, err
	}
	s.RememberMoves()
	s.writer.Start(s.commitBatch)
	return s, nil
}

// fail, when err is set, closes what Open opened and removes the files it
// created; it returns err.
func (s *Store) fail(err error) error {
	if err != nil {
		s.closeDBs()
		s.removeCreated()
	}
	return err
}

// openDBs opens the writable pools first (the writer's creates the file and
// switches it to WAL), then the read pool.
func (s *Store) openDBs() error {
	var err error
	if s.writeDB, err = openDB(s.path, poolParams("FULL", true), true); err != nil {
		return err
	}
	if s.derivedDB, err = openDB(s.path, poolParams("NORMAL", true), true); err != nil {
		return err
	}
	if s.readDB, err = openDB(s.path, poolParams("FULL", false), false); err != nil {
		return err
	}
	s.readDB.SetMaxOpenConns(8)
	s.readDB.SetMaxIdleConns(8)
	s.readStatements = &statementCache{db: s.readDB}
	return nil
}

// poolParams are the URI parameters of one role's pool on a writable store.
func poolParams(synchronous string, writable bool) url.Values {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", synchronous)
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_stmt_cache_size", "64")
	if writable {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "on")
	}
	return q
}

// openDB opens a connection pool on path with the URI parameters q. Writable
// pools hold exactly one connection so statements of a transaction never
// spread over two.
func openDB(path string, q url.Values, writable bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if writable {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	return db, nil
}

// escapePath keeps characters that are special in a URI query out of the
// file name part of a SQLite URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// loadTip reads the last event's position and hash.
func (s *Store) loadTip() error {
	var end eventstore.Tip
	var hash sql.NullString
	err := s.readDB.QueryRow(`SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`).Scan(&end.Position, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		end.Hash = eventstore.GenesisHash
	case err != nil:
		return fmt.Errorf("read log head: %w", classify(err))
	default:
		end.Hash = hash.String
	}
	s.recent = eventstore.NewRecentLog(eventstore.RecentCapacity, end.Position)
	s.Advance(end)
	return nil
}

// Path returns the database file the store was opened on.
func (s *Store) Path() string { return s.path }

// ReadDB returns the pool of read-only connections, for read models that live
// in the same file.
func (s *Store) ReadDB() *sql.DB { return s.readDB }

// UpdateDerived runs fn in a write transaction that is serialized with the
// writer's group commits. Its commit is not fsynced on its own
// (synchronous=NORMAL): use it only for state that can be rebuilt from the
// log, such as projections and checkpoints. It returns fn's error, or the
// commit's, classified (a storage fault is a CodeUnavailable error), and
// rolls back on either.
func (s *Store) UpdateDerived(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.derivedDB == nil {
		return eventstore.ErrReadOnly
	}
	s.writeMu.LockFirst()
	defer s.writeMu.Unlock()
	s.reopenIfReadOnly()
	tx, err := s.derivedDB.BeginTx(ctx, nil)
	if err != nil {
		return s.writeFailed(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.writeFailed(err)
	}
	if err := tx.Commit(); err != nil {
		return s.writeFailed(err)
	}
	return nil
}

// reopenInterval is how often write connections found read-only are
// reopened to see whether the file takes writes again.
const reopenInterval = time.Second

// writeFailed notes a failed write transaction and returns err classified.
// A plain SQLITE_READONLY means the write connections were opened on a file
// that was not writable: they are marked for reopenIfReadOnly. The caller
// holds writeMu.
func (s *Store) writeFailed(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrNoExtended(sqlite3.ErrReadonly) && !s.readOnlyConns {
		s.readOnlyConns = true
		s.reopenAt = time.Now().Add(reopenInterval)
		s.opts.Logger.Warn("database file is read-only: commands fail until it is writable", "db", s.path, "retry_every", reopenInterval)
	}
	return classify(err)
}

// reopenIfReadOnly closes the write connections once reopenInterval has
// passed since they were found read-only, so the next write opens the file
// anew: writable, if the fault has cleared, or read-only and noted again.
// The caller holds writeMu.
func (s *Store) reopenIfReadOnly() {
	if !s.readOnlyConns || time.Now().Before(s.reopenAt) {
		return
	}
	s.readOnlyConns = false
	for _, db := range []*sql.DB{s.writeDB, s.derivedDB} {
		discardConn(db)
	}
}

// discardConn closes db's idle connection instead of returning it to the
// pool, so that the next use opens a new one.
func discardConn(db *sql.DB) {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return
	}
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// Close stops accepting appends, commits every queued one, and closes the
// database. It is safe to call more than once.
func (s *Store) Close() error {
	s.writer.Close()
	err := s.closeDBs()
	if !s.opts.ReadOnly {
		removeEmptyWAL(s.path)
	}
	return err
}

// Abandon closes the store after a command failed with it: a database file
// that Open created is removed, so that the failure
// leaves no empty database behind. A file that existed is only closed.
func (s *Store) Abandon() error {
	err := s.Close()
	s.removeCreated()
	return err
}

// removeCreated removes the database files Open created.
func (s *Store) removeCreated() {
	if s.created {
		removeFiles(s.path)
	}
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, db := range []*sql.DB{s.writeDB, s.derivedDB, s.readDB} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.lock != nil {
		errs = append(errs, unlockFile(s.lock))
		s.lock = nil
	}
	return errors.Join(errs...)
}

// classify turns SQLite errors that mean "storage cannot take writes now"
// (full disk, read-only file, I/O failure, lock held elsewhere) into a
// CodeUnavailable *Error wrapping the original, so callers can answer 503;
// one of a read-only file says so.
func classify(err error) error {
	var se sqlite3.Error
	switch {
	case errors.As(err, &se) && se.Code == sqlite3.ErrReadonly:
		return eventstore.ReadOnlyStorage(err)
	case isStorageFault(err):
		return eventstore.Unavailable(err)
	}
	return err
}

// isStorageFault reports whether err is a SQLite error that means "storage
// cannot take writes now", a fault of the machine rather than of the request.
func isStorageFault(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrReadonly, sqlite3.ErrIoErr, sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrCantOpen, sqlite3.ErrPerm:
		return true
	}
	return false
}
