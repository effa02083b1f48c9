package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketd/ticketd/eventstore"
)

// LeaderLease is the projector leadership of the store's schema, an
// eventstore.Lease (its Holder is the lease row's holder_name): the one
// row of leader_lease (see migrations/0003), a lease whose expiry is
// measured on the PostgreSQL server's clock, with a term that grows by one
// at each acquisition (a fencing token). It is acquired when it has expired,
// was released, or its holder's lease connection is gone (the process
// died), renewed by its holder, and given up by expiring it at once.
//
// Once a store has a lease, every write the store makes as leader (derived
// state through UpdateDerived, MoveCheckpoint, PurgeIdempotency) is fenced:
// it commits only while the term this lease holds is the current, unexpired
// one, and otherwise fails with eventstore.ErrFenced, having written
// nothing. A takeover waits for the fenced transactions in flight, so none
// commits after it. Each write is fenced by the term held when it begins,
// so the writes of one leadership must have ended before this lease is
// acquired again (leadership.Run stops them before it releases the lease).
//
// TryAcquire, Renew and Release are called from one goroutine; Term and
// Lost are safe for concurrent use.
type LeaderLease struct {
	store *Store
	cfg   *pgx.ConnConfig
	opts  eventstore.LeaseOptions
	// holder identifies this lease in the row: unique per LeaderLease, so
	// that a restarted instance with the same name is another holder.
	holder string
	conn   *pgx.Conn // nil until connected, and after a failure

	mu   sync.Mutex
	term int64         // the term held, 0 when none
	lost chan struct{} // closed once term is known to be lost
}

// leaseKeepalives make the server notice within seconds that the lease's
// client is gone although its connection was not closed (a host or a
// network path failed), and end the session, so that its lease may be taken
// before it expires.
var leaseKeepalives = map[string]string{"tcp_keepalives_idle": "2", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3"}

// LeaderLease returns the leadership lease of the store's schema, a
// *LeaderLease not held, and fences the store's writes by it from then on.
// It fails on a ReadOnly store, on a store that already has one, and
// without a positive length.
func (s *Store) LeaderLease(opts eventstore.LeaseOptions) (eventstore.Lease, error) {
	if s.session == nil {
		return nil, errors.New("leader lease: the store is read-only")
	}
	if opts.Length <= 0 {
		return nil, errors.New("leader lease: the length must be positive")
	}
	cfg := s.session.cfg.Copy()
	for k, v := range leaseKeepalives {
		cfg.RuntimeParams[k] = v
	}
	l := &LeaderLease{store: s, cfg: cfg, opts: opts, holder: uuid.NewString(), lost: make(chan struct{})}
	if !s.lease.CompareAndSwap(nil, l) {
		return nil, errors.New("leader lease: the store already has one")
	}
	return l, nil
}

// takeableSQL is true of the lease row when another holder may take it: it
// expired, was released, or its holder's lease connection is gone.
const takeableSQL = `(expires_at <= clock_timestamp() OR holder_pid = 0
	OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = leader_lease.holder_pid))`

// TryAcquire connects when needed and takes the lease if it can be taken,
// without waiting for it to expire: true when this lease holds it now, in
// a new term. It waits, up to twice the lease's length, for the writes
// fenced by the previous term that are still in flight, and answers false
// when they outlast that. A connection that fails is dropped, and the next
// call connects again.
func (l *LeaderLease) TryAcquire(ctx context.Context) (bool, error) {
	if err := l.connect(ctx); err != nil {
		return false, err
	}
	var takeable bool
	if err := l.conn.QueryRow(ctx, `SELECT `+takeableSQL+` FROM leader_lease`).Scan(&takeable); err != nil {
		l.drop()
		return false, fmt.Errorf("read the leader lease: %w", classify(err))
	}
	if !takeable {
		return false, nil
	}
	var term int64
	err := pgx.BeginFunc(ctx, l.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, fmt.Sprint((2 * l.opts.Length).Milliseconds())); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(ticketd_lock_key('fence'))`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `UPDATE leader_lease SET term = term + 1, holder = $1, holder_name = $2, holder_pid = pg_backend_pid(),
			length = $3 * interval '1 millisecond', expires_at = clock_timestamp() + $3 * interval '1 millisecond'
			WHERE `+takeableSQL+` RETURNING term`, l.holder, l.opts.Holder, l.opts.Length.Milliseconds()).Scan(&term)
	})
	if errors.Is(err, pgx.ErrNoRows) || isLockTimeout(err) {
		return false, nil // renewed or taken meanwhile, or the old term's writes are still in flight
	}
	if err != nil {
		l.drop()
		return false, fmt.Errorf("take the leader lease: %w", classify(err))
	}
	l.mu.Lock()
	l.term, l.lost = term, make(chan struct{})
	l.mu.Unlock()
	return true, nil
}

// Renew extends the held lease by its length from now on the server's
// clock, also after it expired as long as no one took it over. It fails,
// and the lease must be taken as lost, when the lease connection fails or
// the term is no longer this lease's (an error wrapping eventstore.ErrFenced;
// Lost's channel is then closed).
func (l *LeaderLease) Renew(ctx context.Context) error {
	term := l.Term()
	if term == 0 || l.conn == nil {
		return errors.New("leader lease: not held")
	}
	tag, err := l.conn.Exec(ctx, `UPDATE leader_lease SET expires_at = clock_timestamp() + length, holder_pid = pg_backend_pid()
		WHERE term = $1 AND holder = $2`, term, l.holder)
	if err != nil {
		l.drop()
		return fmt.Errorf("renew the leader lease: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		l.lose(term)
		return fmt.Errorf("leader lease of term %d taken over: %w", term, eventstore.ErrFenced)
	}
	return nil
}

// Term returns the term this lease holds, 0 when it holds none.
func (l *LeaderLease) Term() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term
}

// Lost returns a channel closed once the term held (or last held) is known
// to be lost: a renewal found it taken over, or the fence refused a write
// of it.
func (l *LeaderLease) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// lose closes Lost's channel when term is the one held.
func (l *LeaderLease) lose(term int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if term == l.term {
		select {
		case <-l.lost:
		default:
			close(l.lost)
		}
	}
}

// Release gives the held lease up by expiring it at once, so that another
// instance takes it at its next try, and closes the connection; writes
// fenced by this lease fail from then on. Without a connection it connects
// anew; if that fails the lease still ends at its expiry.
func (l *LeaderLease) Release(ctx context.Context) {
	l.mu.Lock()
	term := l.term
	l.term = 0
	l.mu.Unlock()
	if term == 0 {
		l.drop()
		return
	}
	err := l.connect(ctx)
	if err == nil {
		_, err = l.conn.Exec(ctx, `UPDATE leader_lease SET expires_at = clock_timestamp(), holder_pid = 0 WHERE term = $1 AND holder = $2`, term, l.holder)
	}
	if err != nil {
		l.store.opts.Logger.Warn("leader lease not released; it ends at its expiry", "db", l.store.url, "term", term, "error", err)
	}
	l.drop()
}

// isLockTimeout reports whether err is PostgreSQL's lock_not_available.
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// connect opens the lease connection unless it is open.
func (l *LeaderLease) connect(ctx context.Context) error {
	if l.conn != nil {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("connect for the leader lease: %w", classify(err))
	}
	l.conn = conn
	return nil
}

// drop closes the lease connection, if any.
func (l *LeaderLease) drop() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// fence runs the lease's fence first in tx when the store has a lease: it
// fails with an error wrapping eventstore.ErrFenced, and the caller must
// roll tx back, unless the term held is current and unexpired, in which
// case no takeover commits before tx ends. Without a lease it does nothing.
func (s *Store) fence(ctx context.Context, tx pgx.Tx) error {
	l := s.lease.Load()
	if l == nil {
		return nil
	}
	term, held := l.Term(), false
	if term != 0 {
		if err := tx.QueryRow(ctx, `SELECT ticketd_lease_fence($1)`, term).Scan(&held); err != nil {
			return err
		}
	}
	if held {
		return nil
	}
	if term != 0 {
		l.lose(term)
	}
	if l.opts.OnRefused != nil {
		l.opts.OnRefused()
	}
	return fmt.Errorf("leadership term %d is not the lease's: %w", term, eventstore.ErrFenced)
}
