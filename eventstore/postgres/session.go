package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketd/ticketd/eventstore"
)

// lockKeySQL is ticketd_lock_key of migrations/0001 for purpose $1 and
// schema $2, inline: the session and the migration lock before the schema
// and the function exist.
const lockKeySQL = `hashtextextended('ticketd ' || $1::text || ' ' || $2::text, 0)`

// session is the store's own connection, outside the pool: it holds the
// single-instance lock (a session advisory lock, released when the
// connection ends) and listens for the commits of every store on the
// schema. When the connection is lost it reconnects, takes the lock again
// and catches up on the tip.
type session struct {
	store *Store
	cfg   *pgx.ConnConfig
	conn  *pgx.Conn
	// pid is conn's backend: the process that holds the lock.
	pid    uint32
	ctx    context.Context
	cancel context.CancelFunc
	// done is closed when run returns; nil until start.
	done chan struct{}
}

// reconnectInterval is how long the session waits between attempts to
// reconnect.
const reconnectInterval = 500 * time.Millisecond

// openSession connects and takes the single-instance lock; it fails with an
// error wrapping eventstore.ErrLocked, naming the holder, when another
// session holds it.
func openSession(ctx context.Context, s *Store, cfg *pgx.ConnConfig) (*session, error) {
	ss := &session{store: s, cfg: cfg}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	if err := ss.connect(ctx); err != nil {
		ss.cancel()
		return nil, err
	}
	return ss, nil
}

// channel is the notification channel of the schema's commits; ticketd_append
// notifies it.
func (ss *session) channel() string { return "ticketd." + ss.store.opts.Schema }

// derivedChannel is the notification channel on which writers of the
// schema's derived tables announce their commits (see NotifyDerived).
func (ss *session) derivedChannel() string { return "ticketd_projection." + ss.store.opts.Schema }

// connect opens the connection, takes the lock and listens.
func (ss *session) connect(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, ss.cfg)
	if err != nil {
		return classify(err)
	}
	if err := ss.lock(ctx, conn); err != nil {
		conn.Close(context.Background())
		return err
	}
	for _, channel := range []string{ss.channel(), ss.derivedChannel()} {
		if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("listen for commits: %w", classify(err))
		}
	}
	ss.conn = conn
	ss.pid = conn.PgConn().PID()
	return nil
}

// lock takes the single-instance lock on conn unless the store is Shared,
// in shared mode for a Cluster store.
func (ss *session) lock(ctx context.Context, conn *pgx.Conn) error {
	if ss.store.opts.Shared {
		return nil
	}
	try := "pg_try_advisory_lock"
	if ss.store.opts.Cluster {
		try = "pg_try_advisory_lock_shared"
	}
	var taken bool
	if err := conn.QueryRow(ctx, `SELECT `+try+`(`+lockKeySQL+`)`, "instance", ss.store.opts.Schema).Scan(&taken); err != nil {
		return fmt.Errorf("take the instance lock: %w", classify(err))
	}
	if taken {
		return nil
	}
	return fmt.Errorf("%w: held by %s", eventstore.ErrLocked, holder(ctx, conn, ss.store.opts.Schema))
}

// instanceLockSQL selects, from pg_locks l, the session lock of purpose $1
// ('instance') of schema $2 in the current database.
const instanceLockSQL = `l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND (l.classid::bigint << 32 | l.objid::bigint) = ` + lockKeySQL

// holder describes the session that holds the instance lock: its
// application name (the holder's pid and host), client address and start.
func holder(ctx context.Context, conn *pgx.Conn, schema string) string {
	var app, addr string
	var pid int
	var since time.Time
	err := conn.QueryRow(ctx, `SELECT a.pid, a.application_name, COALESCE(host(a.client_addr), 'local socket'), a.backend_start
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE `+instanceLockSQL, "instance", schema).Scan(&pid, &app, &addr, &since)
	if err != nil {
		return "another session (unknown: " + err.Error() + ")"
	}
	return fmt.Sprintf("%q from %s (backend pid %d, connected %s)", app, addr, pid, since.UTC().Format(time.RFC3339))
}

// start runs the session in its own goroutine until close.
func (ss *session) start() {
	ss.done = make(chan struct{})
	go ss.run()
}

// run follows notifications until close, reconnecting when the connection
// is lost.
func (ss *session) run() {
	defer close(ss.done)
	for {
		n, err := ss.conn.WaitForNotification(ss.ctx)
		if ss.ctx.Err() != nil {
			return
		}
		if err == nil && n.Channel == ss.derivedChannel() {
			ss.store.derivedMoved()
			continue
		}
		if err == nil {
			ss.store.Advance(parseTip(n.Payload))
			continue
		}
		ss.store.opts.Logger.Warn("lost the PostgreSQL session: reconnecting", "db", ss.store.url, "err", err)
		ss.conn.Close(context.Background())
		if !ss.reconnect() {
			return
		}
	}
}

// reconnect connects again until it succeeds or the session is closed, then
// catches up on the tip the lost connection may have missed.
func (ss *session) reconnect() bool {
	for {
		select {
		case <-ss.ctx.Done():
			return false
		case <-time.After(reconnectInterval):
		}
		err := ss.connect(ss.ctx)
		if err == nil {
			err = ss.store.loadTip(ss.ctx)
		}
		if err == nil {
			ss.store.opts.Logger.Info("PostgreSQL session restored", "db", ss.store.url)
			ss.store.derivedMoved() // a notification may have been missed
			return true
		}
		ss.store.opts.Logger.Warn("reconnect to PostgreSQL failed", "db", ss.store.url, "err", err)
	}
}

// parseTip reads a "position:hash" notification; a malformed one gives the
// zero tip, which Advance ignores.
func parseTip(payload string) eventstore.Tip {
	pos, hash, _ := strings.Cut(payload, ":")
	p, err := strconv.ParseInt(pos, 10, 64)
	if err != nil {
		return eventstore.Tip{}
	}
	return eventstore.Tip{Position: p, Hash: hash}
}

// releaseTimeout bounds how long close waits for the server to release the
// lock.
const releaseTimeout = 5 * time.Second

// close ends the session and returns once the server has released the lock.
// Ending a connection does not release it: the backend exits after the
// client has gone (at once when the context of a wait is cancelled, since pgx
// then drops the connection), so an immediate reopen by this very process
// would find the lock held. close therefore waits, from pool, for the backend
// that still holds the lock to end, hurrying it with pg_terminate_backend.
func (ss *session) close(pool *pgxpool.Pool) {
	ss.cancel()
	if ss.done != nil {
		<-ss.done
	}
	ss.conn.Close(context.Background())
	if ss.store.opts.Shared {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(l.pid, $3) FROM pg_locks l WHERE l.pid = $4 AND `+instanceLockSQL,
		"instance", ss.store.opts.Schema, releaseTimeout.Milliseconds(), ss.pid)
	if err != nil {
		ss.store.opts.Logger.Warn("could not wait for PostgreSQL to release the instance lock", "db", ss.store.url, "err", err)
	}
}
