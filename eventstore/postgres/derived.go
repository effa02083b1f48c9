package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketd/ticketd/eventstore"
)

// UpdateDerived runs fn in one READ COMMITTED write transaction on a pooled
// connection, outside the writer's group commits, for state that is derived
// from the log (read models and their checkpoints, in the store's schema).
// Once the store has a LeaderLease the transaction is fenced by it: fn runs
// only while the lease's term is held, else UpdateDerived fails with an
// error wrapping eventstore.ErrFenced. It returns fn's error or the
// commit's, classified (a storage fault is a CodeUnavailable error), and
// rolls back on either; eventstore.ErrReadOnly on a ReadOnly store.
//
// Its commit does not wait for the WAL to reach the disk
// (synchronous_commit=off, as SQLite's derived state is synchronous=NORMAL):
// a crash of the server may lose the last such commits, whole, and their
// checkpoints with them, so their projectors fold those events again.
func (s *Store) UpdateDerived(ctx context.Context, fn func(pgx.Tx) error) error {
	if s.opts.ReadOnly {
		return eventstore.ErrReadOnly
	}
	return s.writeFencedAs(ctx, derivedTx, fn)
}

// derivedTx begins a transaction of derived state, in the same round trip.
var derivedTx = pgx.TxOptions{BeginQuery: `BEGIN; SET LOCAL synchronous_commit = off`}

// writeFenced runs fn in one write transaction on a pooled connection,
// after the fence of the store's lease (see fence), and returns fn's error,
// the fence's or the commit's, classified.
func (s *Store) writeFenced(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.writeFencedAs(ctx, pgx.TxOptions{}, fn)
}

// writeFencedAs is writeFenced in a transaction begun as opts say.
func (s *Store) writeFencedAs(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return s.write(ctx, func(q Statements) error {
		return pgx.BeginTxFunc(ctx, q.(beginner), opts, func(tx pgx.Tx) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			return fn(tx)
		})
	})
}

// ReadSnapshot runs fn in one read-only REPEATABLE READ transaction, so every
// statement of fn sees the same committed state of the database, and returns
// fn's error or the transaction's, classified.
func (s *Store) ReadSnapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return classify(pgx.BeginTxFunc(ctx, s.pool, opts, fn))
}

// Statements run statements: in a transaction (a pgx.Tx), on a pooled
// connection (what write hands its function) or on the pool.
type Statements interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadSingle runs fn, which makes one read statement, on the pool outside
// any transaction (a statement sees one committed state by itself, and a
// transaction would cost two more round trips), and returns fn's error
// classified.
func (s *Store) ReadSingle(ctx context.Context, fn func(Statements) error) error {
	return classify(fn(s.pool))
}

// beginner is a pooled connection, which write hands its function.
type beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// NotifyDerived announces, inside tx, a commit of derived tables (a
// projector's rows and checkpoint) to every store on the schema: their
// DerivedChanged channels close once tx commits, and never if it rolls back.
// Only a Shared or Cluster store announces: beside a store that holds the
// single-instance lock no other store writes or follows, and a notifying
// commit takes PostgreSQL's global notification queue lock.
func (s *Store) NotifyDerived(ctx context.Context, tx pgx.Tx) error {
	if !s.opts.Shared && !s.opts.Cluster {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.session.derivedChannel()); err != nil {
		return fmt.Errorf("notify derived tables' commit: %w", err)
	}
	return nil
}

// DerivedChanged returns a channel closed at the next commit of derived
// tables announced with NotifyDerived by any store on the schema, or when
// the store's session was restored after a loss (a notification may have
// been missed). Nil for a ReadOnly store, which listens to nothing.
func (s *Store) DerivedChanged() <-chan struct{} {
	if s.session == nil {
		return nil
	}
	_, ch := s.derived.Changed()
	return ch
}

// derivedMoved wakes the waiters of DerivedChanged.
func (s *Store) derivedMoved() { s.derived.Advance(s.derived.Value() + 1) }
