package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// onWriteConnections runs pragma on the writer's and on the derived-state
// connection; each of the two pools holds exactly one connection.
func onWriteConnections(t *testing.T, s *Store, pragma string) {
	t.Helper()
	for _, pool := range []*sql.DB{s.writeDB, s.derivedDB} {
		if _, err := pool.Exec(pragma); err != nil {
			t.Fatalf("%s: %v", pragma, err)
		}
	}
}

func appendIssue(s *Store) (eventstore.AppendResult, error) {
	return s.Append(context.Background(), eventstore.AppendRequest{
		Streams: []eventstore.StreamAppend{{StreamID: uuid.NewString(), Events: []domain.Event{
			storetest.SampleEvent(15000),
		}}},
		Metadata:    eventstore.Metadata{RequestID: uuid.NewString()},
		Idempotency: &eventstore.IdempotencyRecord{Key: uuid.NewString(), Endpoint: "POST /tickets", Fingerprint: "f", Status: 201, Body: []byte(`{}`)},
	})
}

// TestStorageFaultsFailCommitsAsUnavailableAndHealByThemselves drives the
// store into the two faults SQLite reports for a file that cannot take
// writes, a full database (max_page_count reached: SQLITE_FULL) and
// read-only write connections (query_only: SQLITE_READONLY, as when SQLite
// opened a file that was not writable), and checks that every append then
// fails as CodeUnavailable with nothing written, that reads go on, and that
// appends succeed again, continuing a verifiable log, once the fault clears,
// without reopening the store. Read-only connections clear by themselves:
// the store reopens them after reopenInterval, which drops query_only just
// as it finds a file that was made writable again.
func TestStorageFaultsFailCommitsAsUnavailableAndHealByThemselves(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name       string
		set, clear string
		// fillUp appends until the fault shows, for faults that need the
		// file to grow before they bite. Such a fault does not fail
		// CheckWritable, whose probe rewrites a row in place.
		fillUp bool
	}{
		{name: "disk full", set: "PRAGMA max_page_count = %d", clear: "PRAGMA max_page_count = 1073741823", fillUp: true},
		{name: "read-only connections", set: "PRAGMA query_only = ON"},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(filepath.Join(t.TempDir(), "app.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			before, err := appendIssue(s)
			if err != nil {
				t.Fatal(err)
			}

			if fault.fillUp {
				var pages int64
				if err := s.writeDB.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
					t.Fatal(err)
				}
				onWriteConnections(t, s, fmt.Sprintf(fault.set, pages))
				for range 100_000 {
					if _, err = appendIssue(s); err != nil {
						break
					}
				}
			} else {
				onWriteConnections(t, s, fault.set)
				_, err = appendIssue(s)
			}
			if domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Fatalf("append under the fault = %v, want code %s", err, domain.CodeUnavailable)
			}
			head := s.Head()

			var wg sync.WaitGroup
			errs := make([]error, 16)
			for i := range errs {
				wg.Go(func() { _, errs[i] = appendIssue(s) })
			}
			wg.Wait()
			for i, err := range errs {
				if domain.ErrorCode(err) != domain.CodeUnavailable {
					t.Errorf("concurrent append %d under the fault = %v, want code %s", i, err, domain.CodeUnavailable)
				}
			}
			if err := s.CheckWritable(context.Background()); !fault.fillUp && domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Errorf("CheckWritable under the fault = %v, want code %s", err, domain.CodeUnavailable)
			}
			if got := s.Head(); got != head {
				t.Fatalf("head moved from %d to %d under the fault", head, got)
			}
			if recs, err := s.ReadStream(context.Background(), before.Records[0].StreamID); err != nil || len(recs) != 1 {
				t.Fatalf("ReadStream under the fault = %d records, %v", len(recs), err)
			}
			if recs, err := s.ReadAll(context.Background(), 0, int(head)+10); err != nil || int64(len(recs)) != head {
				t.Fatalf("ReadAll under the fault = %d records, %v; want %d", len(recs), err, head)
			}

			if fault.clear != "" {
				onWriteConnections(t, s, fault.clear)
			}
			var after eventstore.AppendResult
			for healed := time.Now().Add(reopenInterval + 5*time.Second); ; time.Sleep(50 * time.Millisecond) {
				if after, err = appendIssue(s); err == nil {
					break
				}
				if time.Now().After(healed) {
					t.Fatalf("append after the fault cleared = %v", err)
				}
			}
			if after.Position != head+1 {
				t.Fatalf("append after the fault took position %d, want %d", after.Position, head+1)
			}
			if err := s.CheckWritable(context.Background()); err != nil {
				t.Fatalf("CheckWritable after the fault cleared = %v", err)
			}
			rep, err := eventstore.VerifyLog(context.Background(), s, nil)
			if err != nil || rep.Count != 0 || rep.Events != head+1 {
				t.Fatalf("VerifyLog = %d events, problems %v, %v; want %d events and none", rep.Events, rep.List, err, head+1)
			}
		})
	}
}

// TestCheckWritableFailsWhileTheWritersCommitsFail makes only the writer's
// connection refuse commits, as a failing fsync does (the derived-state
// connection never fsyncs, so it goes on committing), and checks that
// CheckWritable fails with appends and heals with them.
func TestCheckWritableFailsWhileTheWritersCommitsFail(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "app.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.writeDB.Exec(`PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	if _, err := appendIssue(s); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append with the writer failing = %v, want code %s", err, domain.CodeUnavailable)
	}
	if err := s.CheckWritable(context.Background()); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("CheckWritable while appends fail = %v, want code %s", err, domain.CodeUnavailable)
	}
	for healed := time.Now().Add(reopenInterval + 5*time.Second); s.CheckWritable(context.Background()) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(healed) {
			t.Fatal("CheckWritable still fails after the writer's connection was reopened")
		}
	}
	if _, err := appendIssue(s); err != nil {
		t.Fatalf("append once CheckWritable passes again = %v", err)
	}
}
