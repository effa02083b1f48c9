// Package postgres is ticketd's event log on PostgreSQL, with the method set
// and semantics of the SQLite store: appends with optimistic concurrency
// through one group-committing writer, reads of one stream or of the global
// log, idempotency records, checkpoints, import and verification.
//
// Positions are gap-free and in commit order across every writer of the
// database, not only this process's: the server-side function ticketd_append
// (see migrations/) assigns positions and the hash chain inside the appending
// transaction while it holds one global advisory lock, under READ COMMITTED,
// in one statement per group commit, so no client round trip happens while
// the lock is held. PostgreSQL makes a commit visible before it releases its
// locks, so the next holder reads the new tip and every snapshot sees a prefix
// of the positions.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/groupcommit"
	"github.com/ticketd/ticketd/internal/watermark"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// MaxBatch caps how many appends one group commit takes. Default 256.
	MaxBatch int
	// Now is the clock stamped on events. Default time.Now.
	Now func() time.Time
	// ReadOnly opens the database for reading only: appends fail, nothing is
	// created or migrated, no lock is taken. For tools that inspect a log.
	ReadOnly bool
	// Mode says what Open does when the schema holds no event log: create
	// it (the default, eventstore.CreateMissing, and CreateInFolder alike)
	// or, eventstore.MustExist, refuse. ReadOnly implies MustExist.
	Mode eventstore.OpenMode
	// Schema holds ticketd's tables; created when missing. Default "public".
	Schema string
	// Shared skips the single-instance lock, so several writable stores may
	// run on one database (tests, benchmarks). Positions stay gap-free
	// across them either way.
	Shared bool
	// Cluster takes the single-instance lock in shared mode, for one
	// instance of several (serve --cluster): Cluster stores run on one
	// schema together, but none beside a store that holds the lock alone
	// (a single-instance serve, replay, import), nor such a store beside
	// them.
	Cluster bool
	// LockTimeout bounds every wait for a lock, the append lock included;
	// StatementTimeout every statement. Defaults 5s and 30s.
	LockTimeout, StatementTimeout time.Duration
	// OnCommit, when set, is called by the writer after every group commit
	// attempt. It must be fast and must not call the Store.
	OnCommit func(eventstore.CommitInfo)
	// OnAppendLock, when set, is called after every committed group with how
	// long its transaction waited for the global append lock (measured by the
	// server: the time other stores' groups held it) and how long it held
	// it: the statement's round trip less that wait, so an upper bound that
	// includes the commit's WAL flush. It must be fast.
	OnAppendLock func(waited, held time.Duration)
	// Logger receives notices such as migrations and reconnects. Default
	// slog.Default().
	Logger *slog.Logger
	// TracerProvider traces appends: a span per Append in the caller's
	// trace, and a span of its own trace per group commit, linked with them.
	// Default: no tracing.
	TracerProvider trace.TracerProvider
}

func (o *Options) setDefaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Schema == "" {
		o.Schema = "public"
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
}

// Store is the event log in one PostgreSQL schema. Appends go through a
// single writer goroutine that commits concurrent appends together; reads use
// the pool. A session held by the store keeps the single-instance lock
// (unless Options.Shared) and listens for commits of other stores, so
// HeadChanged wakes for every writer's commits.
//
// Store is safe for concurrent use. Close it to flush pending appends.
type Store struct {
	opts   Options
	url    string // redacted
	pool   *pgxpool.Pool
	tracer trace.Tracer

	// LogEnd is the last committed event this store knows of: its own
	// commits and those notified.
	eventstore.LogEnd
	// recent caches the events this store committed lately.
	recent *eventstore.RecentLog
	// mu guards lastCommit, the time stamped on the store's last commit.
	mu         sync.Mutex
	lastCommit time.Time
	// derived counts the notifications of derived-table commits (see
	// DerivedChanged).
	derived watermark.Watermark

	session *session // nil for ReadOnly stores
	// lease, once set by LeaderLease, fences the store's writes as leader.
	lease atomic.Pointer[LeaderLease]
	// headAlarm logs when appends stop at a broken head and resume.
	headAlarm eventstore.HeadAlarm

	writer    *groupcommit.Writer[*appendJob]
	closeOnce sync.Once // the connections are closed once, by the first Close
}

// Open connects to the PostgreSQL database the URL db names. Unless
// opts.ReadOnly it takes the single-instance lock (unless opts.Shared),
// creates opts.Schema and brings ticketd's tables in it up to date (see
// migrate), and starts the writer; tables of other applications are left as
// they are. It fails, in one line naming db with its password redacted, when
// the URL is invalid, the database cannot be reached, the schema holds a
// table ticketd needs that is not ticketd's or a newer schema version, a
// ReadOnly or MustExist store finds no event log (wrapping
// eventstore.ErrNoDatabase; nothing is created), or (wrapping
// eventstore.ErrLocked) another ticketd holds the database.
func Open(ctx context.Context, db string, opts Options) (*Store, error) {
	opts.setDefaults()
	s := &Store{
		opts:   opts,
		url:    Redact(db),
		tracer: opts.TracerProvider.Tracer(eventstore.TracerName),
		writer: groupcommit.NewWriter[*appendJob](opts.MaxBatch, eventstore.ErrStoreClosed),
		recent: eventstore.NewRecentLog(eventstore.RecentCapacity, 0),
	}
	if err := s.open(ctx, db); err != nil {
		s.closeConns()
		return nil, fmt.Errorf("%s: %w", s.url, err)
	}
	if !opts.ReadOnly {
		s.writer.Start(s.commitBatch)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, db string) error {
	cfg, err := s.poolConfig(db)
	if err != nil {
		return err
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return classify(err)
	}
	if s.opts.ReadOnly || s.opts.Mode == eventstore.MustExist {
		if err := s.checkLogExists(ctx); err != nil {
			return err
		}
	}
	if !s.opts.ReadOnly {
		if s.session, err = openSession(ctx, s, cfg.ConnConfig); err != nil {
			return err
		}
		if err := s.migrate(ctx); err != nil {
			return err
		}
	}
	if err := s.loadTip(ctx); err != nil {
		return err
	}
	s.RememberMoves()
	if s.session != nil {
		s.session.start()
	}
	return nil
}

// poolConfig parses db and sets the session parameters every connection of
// the store runs with.
func (s *Store) poolConfig(db string) (*pgxpool.Config, error) {
	if !IsURL(db) {
		return nil, errors.New("not a postgres:// or postgresql:// URL")
	}
	cfg, err := pgxpool.ParseConfig(db)
	if err != nil {
		return nil, errors.New("invalid PostgreSQL URL")
	}
	params := cfg.ConnConfig.RuntimeParams
	params["search_path"] = pgx.Identifier{s.opts.Schema}.Sanitize()
	params["application_name"] = applicationName()
	params["default_transaction_isolation"] = "read committed"
	params["synchronous_commit"] = "on"
	params["lock_timeout"] = fmt.Sprint(s.opts.LockTimeout.Milliseconds())
	params["statement_timeout"] = fmt.Sprint(s.opts.StatementTimeout.Milliseconds())
	if s.opts.ReadOnly {
		params["default_transaction_read_only"] = "on"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without a bound, a connection to a server that drops packets
		// waits on TCP's retries for minutes.
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	cfg.MaxConns = 8
	cfg.HealthCheckPeriod = 5 * time.Second
	return cfg, nil
}

// connectTimeout bounds a connection attempt unless the URL sets
// connect_timeout.
const connectTimeout = 5 * time.Second

// applicationName names this process to PostgreSQL, which is how a refused
// second instance learns who holds the database.
func applicationName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("ticketd pid %d on %s", os.Getpid(), host)
}

// loadTip reads the last event's position and hash.
func (s *Store) loadTip(ctx context.Context) error {
	end := eventstore.Tip{Hash: eventstore.GenesisHash}
	err := s.pool.QueryRow(ctx, `SELECT position, COALESCE(hash, '') FROM events ORDER BY position DESC LIMIT 1`).Scan(&end.Position, &end.Hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read log head: %w", classify(err))
	}
	s.Advance(end)
	return nil
}

// Path returns the database URL the store was opened on, its password redacted.
func (s *Store) Path() string { return s.url }

// Close stops accepting appends, commits every queued one, releases the
// single-instance lock and closes the connections. It is safe to call more
// than once.
func (s *Store) Close() error {
	s.writer.Close()
	s.closeOnce.Do(s.closeConns)
	return nil
}

// Abandon is Close: a PostgreSQL database is never created by Open, so a
// failed command leaves nothing of its own to remove.
func (s *Store) Abandon() error { return s.Close() }

func (s *Store) closeConns() {
	if s.session != nil {
		s.session.close(s.pool)
	}
	if s.pool != nil {
		s.pool.Close()
	}
}
