package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LeaderLock is the projector leadership of the store's schema: a session
// advisory lock, distinct from the single-instance lock and the append
// lock, held on a connection of its own, so that it is released when that
// connection ends for whatever reason (the process dies, the backend is
// terminated, the network fails). It is not safe for concurrent use.
type LeaderLock struct {
	store *Store
	cfg   *pgx.ConnConfig
	conn  *pgx.Conn // nil until connected, and after a failure
	// orphan is the backend of a connection dropped after a failed check,
	// which may still hold the lock if the server has not noticed the
	// loss (a hung, not a broken, connection); 0 when none.
	orphan uint32
}

// leaderKeepalives make the server notice within seconds that the lock's
// client is gone although its connection was not closed (a host or a
// network path failed), and end the session, which frees the lock.
var leaderKeepalives = map[string]string{"tcp_keepalives_idle": "2", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3"}

// LeaderLock returns the leadership lock of the store's schema, not held.
// It fails on a ReadOnly store.
func (s *Store) LeaderLock() (*LeaderLock, error) {
	if s.session == nil {
		return nil, errors.New("leader lock: the store is read-only")
	}
	cfg := s.session.cfg.Copy()
	for k, v := range leaderKeepalives {
		cfg.RuntimeParams[k] = v
	}
	return &LeaderLock{store: s, cfg: cfg}, nil
}

// leaderKey names the lock for lockKeySQL.
const leaderKey = "leader"

// TryAcquire connects when needed and tries the lock once, without waiting:
// true when this lock holds it now, false when another session does. A
// connection that fails is dropped, and the next call connects again; the
// first call on a new connection ends the backend of a dropped one that
// still holds the lock.
func (l *LeaderLock) TryAcquire(ctx context.Context) (bool, error) {
	if l.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return false, fmt.Errorf("connect for the leader lock: %w", classify(err))
		}
		l.conn = conn
	}
	if l.orphan != 0 {
		_, err := l.conn.Exec(ctx, `SELECT pg_terminate_backend(l.pid, 1000) FROM pg_locks l WHERE l.pid = $3 AND `+instanceLockSQL,
			leaderKey, l.store.opts.Schema, int64(l.orphan))
		if err != nil {
			l.drop()
			return false, fmt.Errorf("end the dropped leader lock session: %w", classify(err))
		}
		l.orphan = 0
	}
	var taken bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKeySQL+`)`, leaderKey, l.store.opts.Schema).Scan(&taken); err != nil {
		l.drop()
		return false, fmt.Errorf("try the leader lock: %w", classify(err))
	}
	return taken, nil
}

// Check returns nil while the connection that holds the lock answers, so
// the lock is still held; an error means it is lost (the connection is
// then dropped). Call it only while holding the lock.
func (l *LeaderLock) Check(ctx context.Context) error {
	if l.conn == nil {
		return errors.New("leader lock: not connected")
	}
	if err := l.conn.Ping(ctx); err != nil {
		l.orphan = l.conn.PgConn().PID()
		l.drop()
		return fmt.Errorf("leader lock connection lost: %w", classify(err))
	}
	return nil
}

// Release unlocks the lock, so that another instance can take it at once,
// and closes the connection.
func (l *LeaderLock) Release(ctx context.Context) {
	if l.conn == nil {
		return
	}
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKeySQL+`)`, leaderKey, l.store.opts.Schema); err != nil {
		l.store.opts.Logger.Warn("leader lock not released; it goes with its connection", "db", l.store.url, "error", err)
	}
	l.drop()
}

// drop closes the connection, which releases the lock on the server once
// its backend ends.
func (l *LeaderLock) drop() {
	l.conn.Close(context.Background())
	l.conn = nil
}
