package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// appender is what the concurrency tests need of a store.
type appender interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
}

// tail follows s's log from the start, woken by HeadChanged, until stop is
// closed and it has read up to want events. It fails the test when a read
// ever shows a gap: an event whose position is not the one after the last
// it read. It returns the records it read.
func tail(t *testing.T, s *postgres.Store, stop <-chan struct{}, want func() int64) <-chan []eventstore.Record {
	out := make(chan []eventstore.Record, 1)
	go func() {
		var seen []eventstore.Record
		defer func() { out <- seen }()
		ctx := context.Background()
		deadline := time.After(time.Minute)
		stopped := false
		for {
			_, changed := s.HeadChanged()
			page, err := s.ReadAll(ctx, int64(len(seen)), 500)
			if err != nil {
				t.Errorf("tailing read: %v", err)
				return
			}
			for _, r := range page {
				if r.Position != int64(len(seen))+1 {
					t.Errorf("tailing reader saw position %d right after %d: a gap", r.Position, len(seen))
					return
				}
				seen = append(seen, r)
			}
			if len(page) > 0 {
				continue
			}
			if stopped && int64(len(seen)) >= want() {
				return
			}
			select {
			case <-changed:
			case <-stop:
				stopped = true
			case <-time.After(50 * time.Millisecond):
				// A poll besides the notification: the test must not pass
				// or hang on notifications alone.
			case <-deadline:
				t.Errorf("tailing reader stuck at %d events, want %d", len(seen), want())
				return
			}
		}
	}()
	return out
}

// race runs appenders goroutines against stores (round robin). Each issues
// 1-3 tickets of its own and races to refund the shared ticket, which only
// one may do. It returns how many refunds won and how many events committed.
func race(t *testing.T, stores []appender, shared string, appenders int) (wins, events int64) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var won, committed atomic.Int64
	start := make(chan struct{})
	for i := 0; i < appenders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := stores[i%len(stores)]
			<-start
			ids := make([]string, 1+i%3)
			for j := range ids {
				ids[j] = storetest.NewStream()
			}
			res, err := s.Append(ctx, issueReq(ids...))
			if err != nil {
				t.Errorf("appender %d: issue: %v", i, err)
				return
			}
			committed.Add(int64(len(res.Records)))
			_, err = s.Append(ctx, storetest.RefundRequest(shared, 1))
			switch {
			case err == nil:
				won.Add(1)
				committed.Add(1)
			case !errors.Is(err, eventstore.ErrConcurrency):
				t.Errorf("appender %d: refund: %v", i, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	return won.Load(), committed.Load()
}

// checkRace checks the outcome of race on a log that held the shared issue.
func checkRace(t *testing.T, s *postgres.Store, wins, events int64, appenders int, tailed []eventstore.Record) {
	t.Helper()
	if wins != 1 {
		t.Fatalf("%d appenders refunded the shared ticket, want exactly 1", wins)
	}
	want := int64(2)
	for i := 0; i < appenders; i++ {
		want += int64(1 + i%3)
	}
	records := storetest.ReadAll(t, s)
	if int64(len(records)) != want || events+1 != want {
		t.Fatalf("log has %d events, appends acknowledged %d, want %d", len(records), events+1, want)
	}
	storetest.AssertLogInvariants(t, records)
	if len(tailed) != len(records) {
		t.Fatalf("tailing reader read %d events of %d", len(tailed), len(records))
	}
	rep, err := eventstore.VerifyLog(context.Background(), s, nil)
	if err != nil || rep.Count != 0 || rep.Events != want || rep.LastPosition != want {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

func TestConcurrentAppendersInOneStoreKeepPositionsGapFree(t *testing.T) {
	t.Parallel()
	var commits, maxBatch atomic.Int64
	s, _ := MustOpenStore(t, postgres.Options{OnCommit: func(info eventstore.CommitInfo) {
		commits.Add(1)
		for m := maxBatch.Load(); int64(info.Appends) > m && !maxBatch.CompareAndSwap(m, int64(info.Appends)); m = maxBatch.Load() {
		}
	}})
	shared := storetest.NewStream()
	if _, err := s.Append(context.Background(), issueReq(shared)); err != nil {
		t.Fatal(err)
	}
	const appenders = 200
	stop := make(chan struct{})
	var total atomic.Int64
	tailed := tail(t, s, stop, total.Load)
	wins, events := race(t, []appender{s}, shared, appenders)
	total.Store(events + 1)
	close(stop)
	checkRace(t, s, wins, events, appenders, <-tailed)
	if maxBatch.Load() < 2 {
		t.Fatalf("no group commit happened: largest batch %d over %d commits", maxBatch.Load(), commits.Load())
	}
	t.Logf("%d appends in %d commits, largest batch %d", 2*appenders+1, commits.Load(), maxBatch.Load())
}

func TestConcurrentAppendersAcrossStoresKeepPositionsGapFree(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	var held []time.Duration
	var mu sync.Mutex
	opts := postgres.Options{Shared: true, OnAppendLock: func(_, d time.Duration) {
		mu.Lock()
		held = append(held, d)
		mu.Unlock()
	}}
	var stores []appender
	for i := 0; i < 4; i++ {
		stores = append(stores, mustOpen(t, db, opts))
	}
	// The reader appends nothing: it sees the others' commits only through
	// the database, woken by their notifications.
	reader := mustOpen(t, db, postgres.Options{Shared: true})
	shared := storetest.NewStream()
	if _, err := stores[0].Append(context.Background(), issueReq(shared)); err != nil {
		t.Fatal(err)
	}
	const appenders = 200
	stop := make(chan struct{})
	var total atomic.Int64
	tailed := tail(t, reader, stop, total.Load)
	wins, events := race(t, stores, shared, appenders)
	total.Store(events + 1)
	close(stop)
	checkRace(t, reader, wins, events, appenders, <-tailed)
	mu.Lock()
	defer mu.Unlock()
	if len(held) == 0 {
		t.Fatal("no append-lock hold time was reported")
	}
	t.Logf("%d appends from %d stores in %d commits", 2*appenders+1, len(stores), len(held))
}

func TestHeadChangedWakesForCommitsOfOtherStores(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	writer := mustOpen(t, db, postgres.Options{Shared: true})
	watcher := mustOpen(t, db, postgres.Options{Shared: true})
	head, changed := watcher.HeadChanged()
	res, err := writer.Append(context.Background(), issueReq(storetest.NewStream()))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatalf("the watcher's head stayed at %d after another store committed position %d", head, res.Position)
	}
	if pos, hash := watcher.LogHead(); pos != res.Position || hash != res.Records[0].Hash {
		t.Fatalf("watcher's log head = %d %s, want %d %s", pos, hash, res.Position, res.Records[0].Hash)
	}
}

func TestSameKeyInParallelFromSeveralStoresExecutesOnce(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	var stores []*postgres.Store
	for i := 0; i < 3; i++ {
		stores = append(stores, mustOpen(t, db, postgres.Options{Shared: true}))
	}
	ctx := context.Background()
	const callers = 30
	var wg sync.WaitGroup
	var ok, taken atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := issueReq(storetest.NewStream())
			req.Idempotency = &eventstore.IdempotencyRecord{Key: "same", Endpoint: "e", Fingerprint: fmt.Sprint(i), Status: 201, Body: []byte("{}")}
			_, err := stores[i%len(stores)].Append(ctx, req)
			var kt *eventstore.KeyTakenError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &kt):
				taken.Add(1)
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if n := len(storetest.ReadAll(t, stores[0])); ok.Load() != 1 || taken.Load() != callers-1 || n != 1 {
		t.Fatalf("ok=%d taken=%d events=%d", ok.Load(), taken.Load(), n)
	}
}

func TestAConflictInAGroupFailsAlone(t *testing.T) {
	t.Parallel()
	var mixed atomic.Bool
	s, _ := MustOpenStore(t, postgres.Options{OnCommit: func(info eventstore.CommitInfo) {
		if info.Err == nil && info.Failed > 0 && info.Failed < info.Appends {
			mixed.Store(true)
		}
	}})
	ctx := context.Background()
	taken := issueReq(storetest.NewStream())
	taken.Idempotency = &eventstore.IdempotencyRecord{Key: "taken", Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
	first, err := s.Append(ctx, taken)
	if err != nil {
		t.Fatal(err)
	}
	existing := first.Records[0].StreamID
	for round := 0; round < 50 && !mixed.Load(); round++ {
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var req eventstore.AppendRequest
				switch i % 4 {
				case 0:
					req = issueReq(existing) // the stream exists: a conflict
				case 1:
					req = issueReq(storetest.NewStream())
					req.Idempotency = &eventstore.IdempotencyRecord{Key: "taken", Endpoint: "e", Fingerprint: "g"}
				default:
					req = issueReq(storetest.NewStream(), storetest.NewStream())
				}
				_, err := s.Append(ctx, req)
				var kt *eventstore.KeyTakenError
				switch {
				case i%4 == 0 && !errors.Is(err, eventstore.ErrConcurrency):
					t.Errorf("conflicting append: err = %v", err)
				case i%4 == 1 && !errors.As(err, &kt):
					t.Errorf("append with a taken key: err = %v", err)
				case i%4 > 1 && err != nil:
					t.Errorf("append beside failing ones: %v", err)
				}
			}(i)
		}
		wg.Wait()
	}
	if !mixed.Load() {
		t.Fatal("no group mixed failing and succeeding appends")
	}
	storetest.AssertLogInvariants(t, storetest.ReadAll(t, s))
}
