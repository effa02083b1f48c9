package projections

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	esqlite "github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// signalingLog is a real store's log that reports each ReadAll it begins
// and fails the reads after failAfter, when set.
type signalingLog struct {
	*esqlite.Store
	reads     chan int64 // the position each read starts after
	failAfter int64
}

func (l *signalingLog) ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error) {
	l.reads <- after
	if l.failAfter > 0 && after >= l.failAfter {
		return nil, errors.New("disk gone")
	}
	return l.Store.ReadStored(ctx, after, limit, types...)
}

func openSignalingLog(t *testing.T, events int) *signalingLog {
	t.Helper()
	s, err := esqlite.Open(filepath.Join(t.TempDir(), "app.db"), esqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for range events {
		if _, err := s.Append(context.Background(), storetest.IssueRequest(storetest.NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	return &signalingLog{Store: s, reads: make(chan int64, 100)}
}

func nextRead(t *testing.T, reads <-chan int64) int64 {
	t.Helper()
	select {
	case after := <-reads:
		return after
	case <-time.After(10 * time.Second):
		t.Fatal("no read began")
		return 0
	}
}

// TestLogChunksReadsTheNextChunkWhileTheCallerWorks holds the read-ahead:
// while the caller still holds the first chunk, the second is being read;
// breaking out stops the reader.
func TestLogChunksReadsTheNextChunkWhileTheCallerWorks(t *testing.T) {
	log := openSignalingLog(t, 10)
	var got []int64
	for records, err := range logChunks(context.Background(), log, 0, 10, 3) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			got = append(got, r.Position)
		}
		if len(got) == 3 {
			if first, second := nextRead(t, log.reads), nextRead(t, log.reads); first != 0 || second != 3 {
				t.Fatalf("reads after %d and %d while the caller holds the first chunk; want 0 and 3", first, second)
			}
		}
		if len(got) == 6 {
			break
		}
	}
	if len(got) != 6 || got[5] != 6 {
		t.Fatalf("yielded positions %v; want 1 to 6", got)
	}
	// The reader may have begun reading the chunk after the one it held;
	// after that, nothing more.
	time.Sleep(50 * time.Millisecond)
	if extra := len(log.reads); extra > 1 {
		t.Fatalf("%d reads after the caller stopped", extra)
	}
}

// TestLogChunksYieldsAReadErrorLastAndStopsAtTheEndOfTheLog holds its two
// ends: a failed read is the last item, and a log shorter than until ends
// the chunks without an error.
func TestLogChunksYieldsAReadErrorLastAndStopsAtTheEndOfTheLog(t *testing.T) {
	log := openSignalingLog(t, 5)
	log.failAfter = 4
	var last int64
	var failures int
	for records, err := range logChunks(context.Background(), log, 0, 5, 2) {
		if err != nil {
			failures++
			continue
		}
		last = records[len(records)-1].Position
	}
	if last != 4 || failures != 1 {
		t.Fatalf("reached %d with %d failures; want 4 and one failure, yielded last", last, failures)
	}
	log.failAfter = 0
	last = 0
	for records, err := range logChunks(context.Background(), log, 2, 50, 2) {
		if err != nil {
			t.Fatal(err)
		}
		last = records[len(records)-1].Position
	}
	if last != 5 {
		t.Fatalf("reached %d of a log of 5 read up to 50; want 5", last)
	}
}
