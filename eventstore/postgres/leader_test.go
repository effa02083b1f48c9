package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/internal/pgtest"
)

func TestLeaderLockIsHeldByOneStoreUntilReleasedOrItsConnectionEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, db := MustOpenStore(t, postgres.Options{Shared: true})
	b := mustOpen(t, db, postgres.Options{Shared: true})
	other := mustOpen(t, db, postgres.Options{Shared: true, Schema: "other"})
	la, err := a.LeaderLock()
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := b.LeaderLock()
	lo, _ := other.LeaderLock()
	try := func(what string, l *postgres.LeaderLock, want bool) {
		t.Helper()
		if got, err := l.TryAcquire(ctx); err != nil || got != want {
			t.Fatalf("%s: TryAcquire = %v, %v; want %v", what, got, err, want)
		}
	}
	try("first store", la, true)
	try("second store while the first holds it", lb, false)
	try("a store of another schema", lo, true)
	if err := la.Check(ctx); err != nil {
		t.Fatalf("holder's check: %v", err)
	}
	la.Release(ctx)
	try("second store after the release", lb, true)
	try("first store after its release", la, false)

	// The holder's connection ends (a partition, an administrator): its
	// check fails, and the lock is free for another store.
	if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
		t.Fatalf("terminated %d holders, want 1", n)
	}
	if err := lb.Check(ctx); err == nil {
		t.Fatal("the check of a terminated holder passed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for taken := false; !taken; {
		var err error
		if taken, err = la.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
		if !taken && time.Now().After(deadline) {
			t.Fatal("the lock of a terminated holder was never freed")
		}
	}
}

func TestNotifyDerivedWakesTheOtherSharedStoresAtCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, db := MustOpenStore(t, postgres.Options{Shared: true})
	b := mustOpen(t, db, postgres.Options{Shared: true})
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
