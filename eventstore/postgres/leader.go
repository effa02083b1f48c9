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
	conn  *pgx.Conn // nil until connected, and after a failure
}

// LeaderLock returns the leadership lock of the store's schema, not held.
// It fails on a ReadOnly store.
func (s *Store) LeaderLock() (*LeaderLock, error) {
	if s.session == nil {
		return nil, errors.New("leader lock: the store is read-only")
	}
	return &LeaderLock{store: s}, nil
}

// leaderKey names the lock for lockKeySQL.
const leaderKey = "leader"

// TryAcquire connects when needed and tries the lock once, without waiting:
// true when this lock holds it now, false when another session does. A
// connection that fails is dropped, and the next call connects again.
func (l *LeaderLock) TryAcquire(ctx context.Context) (bool, error) {
	if l.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, l.store.session.cfg)
		if err != nil {
			return false, fmt.Errorf("connect for the leader lock: %w", classify(err))
		}
		l.conn = conn
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
