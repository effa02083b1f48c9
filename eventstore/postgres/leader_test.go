package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
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

// freezingProxy forwards TCP connections to a PostgreSQL server; freeze
// stops every connection open then from carrying bytes, without closing
// it, as a hung network path does, while new connections work.
type freezingProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen []chan struct{}
}

func startFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			t.Cleanup(func() { client.Close(); upstream.Close() })
			stop := make(chan struct{})
			p.mu.Lock()
			p.frozen = append(p.frozen, stop)
			p.mu.Unlock()
			go pump(upstream, client, stop)
			go pump(client, upstream, stop)
		}
	}()
	return p
}

// pump copies from src to dst until stop is closed, then keeps both open
// and carries nothing more.
func pump(dst, src net.Conn, stop <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-stop:
			return
		default:
		}
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// freeze stops the connections open now.
func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, stop := range p.frozen {
		close(stop)
	}
	p.frozen = nil
}

func TestLeaderLockOnAHungConnectionIsTakenBackOnANewOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := freshDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startFreezingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	a := mustOpen(t, u.String(), postgres.Options{Shared: true})
	b := mustOpen(t, db, postgres.Options{Shared: true})
	la, _ := a.LeaderLock()
	lb, _ := b.LeaderLock()
	if taken, err := la.TryAcquire(ctx); err != nil || !taken {
		t.Fatalf("first TryAcquire = %v, %v", taken, err)
	}
	proxy.freeze()
	check, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := la.Check(check); err == nil {
		t.Fatal("the check over a hung connection passed")
	}
	// The server still sees the hung session, which holds the lock: only
	// a new connection of the same lock can end it.
	if taken, err := lb.TryAcquire(ctx); err != nil || taken {
		t.Fatalf("another store took the lock of a session the server still sees: %v, %v", taken, err)
	}
	if taken, err := la.TryAcquire(ctx); err != nil || !taken {
		t.Fatalf("TryAcquire on a new connection after the hung one = %v, %v; want the lock back", taken, err)
	}
}
