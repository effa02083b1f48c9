package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// twoStores opens two Shared stores on a fresh database and returns them
// with the database's URL.
func twoStores(t *testing.T) (a, b *postgres.Store, db string) {
	t.Helper()
	a, db = MustOpenStore(t, postgres.Options{Shared: true})
	return a, mustOpen(t, db, postgres.Options{Shared: true}), db
}

// lease returns the leader lease of s, lasting length, and counts the
// writes its fence refuses in refused.
func lease(t *testing.T, s *postgres.Store, name string, length time.Duration, refused *atomic.Int64) eventstore.Lease {
	t.Helper()
	l, err := s.LeaderLease(eventstore.LeaseOptions{Holder: name, Length: length, OnRefused: func() {
		if refused != nil {
			refused.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	return l
}

// try requires l.TryAcquire to answer want.
func try(t *testing.T, what string, l eventstore.Lease, want bool) {
	t.Helper()
	if got, err := l.TryAcquire(context.Background()); err != nil || got != want {
		t.Fatalf("%s: TryAcquire = %v, %v; want %v", what, got, err, want)
	}
}

// acquireWithin tries l until it takes the lease, failing after within.
func acquireWithin(t *testing.T, what string, l eventstore.Lease, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		taken, err := l.TryAcquire(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if taken {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestLeaderLeaseIsHeldByOneStoreUntilReleasedAndEachTakeIsANewTerm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, db := twoStores(t)
	other := mustOpen(t, db, postgres.Options{Shared: true, Schema: "other"})
	la, lb, lo := lease(t, a, "a", time.Minute, nil), lease(t, b, "b", time.Minute, nil), lease(t, other, "o", time.Minute, nil)
	if _, err := a.LeaderLease(eventstore.LeaseOptions{Length: time.Second}); err == nil {
		t.Fatal("a second lease of one store was given")
	}
	try(t, "first store", la, true)
	try(t, "second store while the first holds it", lb, false)
	try(t, "a store of another schema", lo, true)
	if err := la.Renew(ctx); err != nil {
		t.Fatalf("holder's renewal: %v", err)
	}
	first := la.Term()
	la.Release(ctx)
	if la.Term() != 0 {
		t.Fatal("a released lease still has a term")
	}
	try(t, "second store after the release", lb, true)
	if lb.Term() != first+1 {
		t.Fatalf("term after the release %d, want %d", lb.Term(), first+1)
	}
	try(t, "first store after its release", la, false)
	if err := la.Renew(ctx); err == nil {
		t.Fatal("a released lease was renewed")
	}
}

// The lease of a holder that stops renewing (paused, partitioned) is taken
// over once it expired on the server's clock, not before, in a new term;
// the old holder's renewal and fenced writes are then refused with
// ErrFenced, write nothing, and close its Lost channel.
func TestLeaderLeaseExpiresAndAStaleHoldersWritesAreFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, db := twoStores(t)
	var refusedA atomic.Int64
	const length = 2 * time.Second // long enough for a's first writes on a loaded machine
	la, lb := lease(t, a, "a", length, &refusedA), lease(t, b, "b", length, nil)
	start := time.Now() // before the server stamped a's lease
	try(t, "a", la, true)
	staleTerm, lost := la.Term(), la.Lost()
	write := func(s *postgres.Store, v int64) error {
		return s.UpdateDerived(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ('fenced', $1)
				ON CONFLICT (name) DO UPDATE SET position = excluded.position`, v)
			return err
		})
	}
	if err := write(a, 1); err != nil {
		t.Fatalf("the holder's fenced write: %v", err)
	}
	if err := write(b, 99); !errors.Is(err, eventstore.ErrFenced) {
		t.Fatalf("a write of a store that holds no term: %v, want ErrFenced", err)
	}
	acquireWithin(t, "b after a's lease expired", lb, 10*time.Second)
	if took := time.Since(start); took < length {
		t.Fatalf("b took the lease %s after a did, before a's %s lease expired", took, length)
	}
	if lb.Term() != staleTerm+1 {
		t.Fatalf("b's term %d, want %d", lb.Term(), staleTerm+1)
	}
	if closed(lost) {
		t.Fatal("a's Lost closed before a learnt anything")
	}
	for name, err := range map[string]error{
		"UpdateDerived":    write(a, 2),
		"MoveCheckpoint":   a.MoveCheckpoint(ctx, "relay:nats", 0, 5),
		"PurgeIdempotency": func() error { _, err := a.PurgeIdempotency(ctx, time.Now()); return err }(),
	} {
		if !errors.Is(err, eventstore.ErrFenced) {
			t.Errorf("the stale holder's %s: %v, want ErrFenced", name, err)
		}
	}
	if n := refusedA.Load(); n != 3 {
		t.Errorf("OnRefused called %d times, want 3", n)
	}
	if !closed(lost) {
		t.Fatal("a's Lost is open after its writes were refused")
	}
	if err := la.Renew(ctx); !errors.Is(err, eventstore.ErrFenced) {
		t.Fatalf("the stale holder's renewal: %v, want ErrFenced", err)
	}
	if err := write(b, 3); err != nil {
		t.Fatalf("the new holder's write: %v", err)
	}
	if got := column[int64](t, db, `SELECT position FROM checkpoints WHERE name = 'fenced'`); len(got) != 1 || got[0] != 3 {
		t.Fatalf("fenced row %v, want [3]: a refused write got through", got)
	}
	if got := column[int64](t, db, `SELECT count(*) FROM checkpoints WHERE name = 'relay:nats'`); got[0] != 0 {
		t.Fatal("the stale holder's checkpoint was stored")
	}
}

// A holder whose process dies loses its lease connection, and its lease is
// taken at once rather than at its expiry.
func TestLeaderLeaseOfAHolderWhoseConnectionEndedIsTakenAtOnce(t *testing.T) {
	t.Parallel()
	a, b, db := twoStores(t)
	la, lb := lease(t, a, "a", time.Hour, nil), lease(t, b, "b", time.Hour, nil)
	try(t, "a", la, true)
	try(t, "b while a's connection lives", lb, false)
	if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
		t.Fatalf("terminated %d holders, want 1", n)
	}
	acquireWithin(t, "b after a's lease connection ended", lb, 5*time.Second)
	if err := la.Renew(context.Background()); err == nil {
		t.Fatal("a renewed the lease over its ended connection")
	}
}

// A takeover waits for the holder's fenced transaction in flight, which
// commits in the old term; a holder paused inside one is cut off once it
// sat idle for the lease's length, and its transaction commits nothing.
func TestLeaderLeaseTakeoverWaitsForFencedWritesInFlightButNotForAPausedHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, db := twoStores(t)
	const length = time.Second
	la, lb := lease(t, a, "a", length, nil), lease(t, b, "b", length, nil)
	try(t, "a", la, true)

	// In flight across the expiry, busy in a statement: the takeover waits.
	var committed atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- a.UpdateDerived(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_sleep(2.5)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ('in-flight', 1)`)
			committed.Store(err == nil)
			return err
		})
	}()
	time.Sleep(100 * time.Millisecond)
	acquireWithin(t, "b after a's lease expired", lb, 10*time.Second)
	if err := <-done; err != nil || !committed.Load() {
		t.Fatalf("a's write in flight at the takeover: %v, want it committed before b took over", err)
	}

	// Paused inside a fenced transaction (idle in it, as a SIGSTOPped
	// client): the server ends the session after the lease's length.
	lb.Release(ctx)
	acquireWithin(t, "a again", la, 5*time.Second)
	go func() {
		done <- a.UpdateDerived(ctx, func(tx pgx.Tx) error {
			time.Sleep(6 * length)
			_, err := tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ('paused', 1)`)
			return err
		})
	}()
	time.Sleep(100 * time.Millisecond)
	if took := acquireWithin(t, "b while a is paused in a fenced transaction", lb, 10*time.Second); took > 4*length {
		t.Errorf("b took over %s after a paused, want about the lease's %s", took, length)
	}
	if err := <-done; err == nil {
		t.Fatal("the paused holder's transaction committed after the takeover")
	}
	if got := column[int64](t, db, `SELECT count(*) FROM checkpoints WHERE name = 'paused'`); got[0] != 0 {
		t.Fatal("the paused holder's row was stored")
	}
}

func TestNotifyDerivedWakesTheOtherSharedStoresAtCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, _ := twoStores(t)
	notify := func(commit bool) error {
		errRollback := errors.New("roll back")
		err := a.UpdateDerived(ctx, func(tx pgx.Tx) error {
			if err := a.NotifyDerived(ctx, tx); err != nil {
				return err
			}
			if !commit {
				return errRollback
			}
			return nil
		})
		if errors.Is(err, errRollback) {
			return nil
		}
		return err
	}
	changed := b.DerivedChanged()
	if err := notify(false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
		t.Fatal("a rolled back notification woke the other store")
	case <-time.After(300 * time.Millisecond):
	}
	if err := notify(true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("a committed notification did not wake the other store within 5s")
	}
}

// A holder cut off by a network path that hangs (its connection neither
// carries bytes nor breaks, so the server still sees its session) keeps
// the lease only until it expires: another store then takes it over.
func TestLeaderLeaseOfAHungHolderIsTakenOverOnceItExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := freshDatabase(t)
	proxied, freeze := pgtest.FreezingProxy(t, db)
	a := mustOpen(t, proxied, postgres.Options{Shared: true})
	b := mustOpen(t, db, postgres.Options{Shared: true})
	const length = time.Second
	la, lb := lease(t, a, "a", length, nil), lease(t, b, "b", length, nil)
	try(t, "a", la, true)
	freeze()
	renew, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := la.Renew(renew); err == nil {
		t.Fatal("a renewal over a hung connection passed")
	}
	if took := acquireWithin(t, "b after the hung holder's lease expired", lb, 10*time.Second); took > length+3*time.Second {
		t.Errorf("b took over after %s, want about the lease's %s", took, length)
	}
}
