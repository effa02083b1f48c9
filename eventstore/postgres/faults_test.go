package postgres_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// dbName is the database the URL db names.
func dbName(t *testing.T, db string) string { return pgtest.Name(t, db) }

// terminateStores ends every connection to db's database but the caller's,
// as an administrator or a server restart does (SQLSTATE 57P01).
func terminateStores(t *testing.T, db string) { pgtest.Terminate(t, db) }

// appendUntil appends until ok says the outcome is what it waits for,
// failing the test after 15s. Every error must be CodeUnavailable.
func appendUntil(t *testing.T, s *postgres.Store, what string, ok func(error) bool) (failures int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s.Append(context.Background(), issueReq(storetest.NewStream()))
		if err != nil {
			failures++
			if domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Fatalf("waiting for %s: append failed as %v, not as unavailable", what, err)
			}
		}
		if ok(err) {
			return failures
		}
		if time.Now().After(deadline) {
			t.Fatalf("appends never reached %s (last error %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func succeeded(err error) bool { return err == nil }

// assertAcknowledgedKept checks the log is intact and holds at least the
// events acknowledged.
func assertAcknowledgedKept(t *testing.T, s *postgres.Store) {
	t.Helper()
	records := storetest.ReadAll(t, s)
	storetest.AssertLogInvariants(t, records)
	if pos, _ := s.LogHead(); pos != int64(len(records)) {
		t.Fatalf("log head %d, log holds %d events", pos, len(records))
	}
}

func sleepThen(d time.Duration, f func() bool) bool {
	time.Sleep(d)
	return f()
}

// instanceLockHeld reports whether a session holds the instance lock of
// db's public schema, without taking it.
func instanceLockHeld(t *testing.T, db string) bool {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, db)
	defer conn.Close(ctx)
	var held bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND (classid::bigint << 32 | objid::bigint) = ticketd_lock_key('instance'))`).Scan(&held)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestTerminatedConnectionsFailAppendsAsUnavailableThenRecover(t *testing.T) {
	t.Parallel()
	s, db := MustOpenStore(t, postgres.Options{})
	if _, err := s.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	failures := 0
	for round := 0; round < 5; round++ {
		terminateStores(t, db)
		failures += appendUntil(t, s, "recovery", succeeded)
	}
	if failures == 0 {
		t.Fatal("no append failed while its connections were terminated")
	}
	// The session came back too: it holds the instance lock again (held
	// across a reconnect interval, so not by a terminated backend on its
	// way out) and hears other stores' commits.
	deadline := time.Now().Add(10 * time.Second)
	for !instanceLockHeld(t, db) || !sleepThen(time.Second, func() bool { return instanceLockHeld(t, db) }) {
		if time.Now().After(deadline) {
			t.Fatal("the instance lock was not taken again after the reconnect")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := postgres.Open(context.Background(), db, postgres.Options{}); !errors.Is(err, eventstore.ErrLocked) {
		t.Fatalf("open beside the reconnected store = %v, want ErrLocked", err)
	}
	_, changed := s.HeadChanged()
	if _, err := mustOpen(t, db, postgres.Options{Shared: true}).Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the reconnected session did not hear another store's commit")
	}
	assertAcknowledgedKept(t, s)
}

func TestReadOnlyDatabaseFailsAppendsAsUnavailableThenHeals(t *testing.T) {
	t.Parallel()
	s, db := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	if _, err := s.Append(ctx, issueReq(storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	name := dbName(t, db)
	admin(t, `ALTER DATABASE `+name+` SET default_transaction_read_only = on`)
	terminateStores(t, db)
	appendUntil(t, s, "a read-only refusal", func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "25006")
	})
	if err := s.CheckWritable(ctx); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("CheckWritable on a read-only database = %v", err)
	}
	if _, err := s.ReadStored(ctx, 0, 10); err != nil {
		t.Fatalf("reads stop on a read-only database: %v", err)
	}
	admin(t, `ALTER DATABASE `+name+` RESET default_transaction_read_only`)
	appendUntil(t, s, "healing", succeeded)
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable after healing = %v", err)
	}
	assertAcknowledgedKept(t, s)
}

func TestAppendLockHeldElsewhereTimesOutAsUnavailable(t *testing.T) {
	t.Parallel()
	s, db := MustOpenStore(t, postgres.Options{LockTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	conn := connect(t, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(ticketd_lock_key('append'))`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Append(ctx, issueReq(storetest.NewStream()))
	if domain.ErrorCode(err) != domain.CodeUnavailable || !strings.Contains(err.Error(), "55P03") {
		t.Fatalf("append while the lock is held elsewhere = %v, want unavailable (lock timeout)", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the lock wait took %v: not bounded by LockTimeout", took)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(ticketd_lock_key('append'))`); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Append(ctx, issueReq(storetest.NewStream())); err != nil || res.Position != 1 {
		t.Fatalf("append after the lock was released = %+v, %v", res, err)
	}
}

func TestOpenOnAServerThatNeverAnswersGivesUpAsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accepted, never answered
		}
	}()
	start := time.Now()
	_, err = postgres.Open(context.Background(), "postgres://ticketd@"+ln.Addr().String()+"/ticketd", postgres.Options{})
	if domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("open on a silent server = %v, want unavailable", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("open waited %v", took)
	}
}
