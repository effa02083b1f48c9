// Package storetest is the one contract suite every eventstore.Store engine
// passes: each engine's test calls Run with a Factory and the Features it
// has, in the pattern of hallgren/eventsourcing's core/testsuite and
// watermill's tests.Features.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Factory opens stores of one engine.
type Factory struct {
	// NewDatabase returns the name of a new, empty database (a file path, a
	// URL) for one test, removed when tb ends.
	NewDatabase func(tb testing.TB) string
	// Open opens a writable store on db, creating its schema when db is
	// empty.
	Open func(db string, opts Options) (eventstore.Store, error)
}

// Options are the settings of a store every engine takes.
type Options struct {
	// Now is the clock stamped on events; nil means time.Now.
	Now func() time.Time
	// OnCommit, when set, is called after every commit attempt.
	OnCommit func(eventstore.CommitInfo)
	// Mode is what the open does when db holds no event log.
	Mode eventstore.OpenMode
}

// Features are the behaviours only some engines have, each with what the
// suite needs to check it; a zero field skips its tests.
type Features struct {
	// ExclusiveWriter: while a writable store is open on a database, a
	// second writable Open of it fails with an error wrapping
	// eventstore.ErrLocked (SQLite's single-process file lock).
	ExclusiveWriter bool
	// OpenReadOnly opens a read-only store on db, also beside a writer;
	// its appends and CheckWritable fail with CodeUnavailable.
	OpenReadOnly func(db string) (eventstore.Store, error)
	// SetColumn sets column of the stored event at position to value (nil:
	// NULL) behind the back of every store, with or without one open on db.
	SetColumn func(tb testing.TB, db string, position int64, column string, value *string)
}

// suite runs the tests of one engine.
type suite struct {
	factory  Factory
	features Features
}

// Run runs the contract suite against the engine factory opens, each test
// in parallel on a database of its own.
func Run(t *testing.T, factory Factory, features Features) {
	s := suite{factory: factory, features: features}
	tests := []namedTest{
		{"AppendAndReadBack", s.testAppendAndReadBack},
		{"HeadReachedAtIsTheEndOfTheCommit", s.testHeadReachedAtIsTheEndOfTheCommit},
		{"ReadAllFiltersByTypeBeforeLimit", s.testReadAllFiltersByTypeBeforeLimit},
		{"ReadStreamsReturnsTheirEventsInPositionOrder", s.testReadStreamsReturnsTheirEventsInPositionOrder},
		{"WrongExpectedVersionConflictsAndWritesNothing", s.testWrongExpectedVersionConflictsAndWritesNothing},
		{"ConcurrentAppendersKeepPositionsGapFreeForATailingReader", s.testConcurrentAppenders},
		{"AnyVersionAppendsToOneStreamAllCommitGapFree", s.testAnyVersionAppends},
		{"IdempotencyRecordIsStoredWithTheEvents", s.testIdempotencyRecordIsStoredWithTheEvents},
		{"SameKeyInParallelExecutesOnce", s.testSameKeyInParallelExecutesOnce},
		{"PurgeIdempotencyDeletesOnlyOldRecords", s.testPurgeIdempotencyDeletesOnlyOldRecords},
		{"ReopenContinuesTheLog", s.testReopenContinuesTheLog},
		{"MustExistRefusesADatabaseWithoutALogAndCreatesNone", s.testMustExistRefusesADatabaseWithoutALog},
		{"CloseCommitsQueuedAppendsAndRefusesNewOnes", s.testCloseCommitsQueuedAppendsAndRefusesNewOnes},
		{"CheckWritable", s.testCheckWritable},
		{"SecondWriterIsRefused", s.testSecondWriterIsRefused},
		{"AppendsChainFromGenesis", s.testAppendsChainFromGenesis},
		{"FailedAppendsInAGroupKeepTheChainExact", s.testFailedAppendsInAGroupKeepTheChainExact},
		{"ImportRefusesRecordsThatBreakTheChain", s.testImportRefusesRecordsThatBreakTheChain},
		{"CheckHeadsFindsEverySavedHeadTheLogLost", s.testCheckHeadsFindsEverySavedHeadTheLogLost},
		{"ReadsOfACorruptEventFailNamingItsPosition", s.testReadsOfACorruptEventFailNamingItsPosition},
		{"NullOrMalformedHashesAreBreaksNeverRewritten", s.testNullOrMalformedHashesAreBreaksNeverRewritten},
		{"NothingIsAppendedAfterABrokenHead", s.testNothingIsAppendedAfterABrokenHead},
		{"RelayPublishesCommittedEventsInOrderAndResumes", s.testRelayPublishesCommittedEventsInOrderAndResumes},
		{"RelayRetriesUntilThePublisherRecovers", s.testRelayRetriesUntilThePublisherRecovers},
		{"BatchedRelayPublishesEachRoundAsOneMessage", s.testBatchedRelayPublishesEachRoundAsOneMessage},
		{"CheckpointsMoveByCompareAndSet", s.testCheckpointsMoveByCompareAndSet},
		{"RelayNeverMovesItsCheckpointBack", s.testRelayNeverMovesItsCheckpointBack},
	}
	tests = append(tests, s.claimTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

// open opens a store on a new database, closed when tb ends, and returns
// it with the database's name.
func (s suite) open(tb testing.TB, opts Options) (eventstore.Store, string) {
	tb.Helper()
	db := s.factory.NewDatabase(tb)
	return s.reopen(tb, db, opts), db
}

// reopen opens a store on db, closed when tb ends.
func (s suite) reopen(tb testing.TB, db string, opts Options) eventstore.Store {
	tb.Helper()
	store, err := s.factory.Open(db, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// NewStream returns a new stream id.
func NewStream() string { return uuid.Must(uuid.NewV7()).String() }

// IssueRequest issues one ticket on each stream, expected new.
func IssueRequest(streams ...string) eventstore.AppendRequest {
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "req-1", CorrelationID: "corr-1"}}
	for _, id := range streams {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{SampleEvent(15000)}})
	}
	return req
}

// RefundRequest refunds the ticket of stream, expected at version expected.
func RefundRequest(stream string, expected int64) eventstore.AppendRequest {
	return eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: stream, ExpectedVersion: expected, Events: []domain.Event{SampleFollowUp()}}}}
}

// ReadAll returns the whole log of r, read in pages.
func ReadAll(tb testing.TB, r eventstore.Reader) []eventstore.Record {
	tb.Helper()
	var all []eventstore.Record
	for after := int64(0); ; {
		page, err := r.ReadAll(context.Background(), after, 1000)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
}

// AssertLogInvariants checks positions are 1..n without gaps, every
// stream's versions are 1..k in position order, and the chain verifies.
func AssertLogInvariants(tb testing.TB, records []eventstore.Record) {
	tb.Helper()
	var rep eventstore.LogReport
	chain := eventstore.NewChainCheck(&rep)
	versions := map[string]int64{}
	for i, r := range records {
		if r.Position != int64(i+1) {
			tb.Fatalf("record %d has position %d: gap or duplicate", i, r.Position)
		}
		versions[r.StreamID]++
		if r.Version != versions[r.StreamID] {
			tb.Fatalf("stream %s: event at position %d has version %d, want %d", r.StreamID, r.Position, r.Version, versions[r.StreamID])
		}
		chain.Next(r)
	}
	if rep.Count != 0 {
		tb.Fatalf("chain does not verify: %+v", rep.List)
	}
}

func (s suite) testAppendAndReadBack(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	store, _ := s.open(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	a, b := NewStream(), NewStream()
	res, err := store.Append(ctx, IssueRequest(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if res.Position != 2 || len(res.Records) != 2 || res.Records[0].StreamID != a || res.Records[1].Position != 2 {
		t.Fatalf("result = %+v", res)
	}
	if store.Head() != 2 {
		t.Fatalf("head = %d", store.Head())
	}
	if _, err := store.Append(ctx, RefundRequest(a, 1)); err != nil {
		t.Fatal(err)
	}
	stream, err := store.ReadStream(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(stream) != 2 || stream[0].Type != domain.TypeTicketIssued || stream[1].Type != domain.TypeTicketRefunded || stream[1].Version != 2 || stream[1].Position != 3 {
		t.Fatalf("stream = %+v", stream)
	}
	if got := stream[0].OccurredAt; !got.Equal(now.Truncate(time.Microsecond)) {
		t.Fatalf("occurred_at = %v, want %v", got, now)
	}
	if string(stream[0].Metadata) != `{"request_id":"req-1","correlation_id":"corr-1"}` {
		t.Fatalf("metadata = %s", stream[0].Metadata)
	}
	ticket, err := eventstore.Fold(stream)
	if err != nil || ticket.Status != domain.StatusCanceled || ticket.Version != 2 || ticket.PriceKRW != 15000 {
		t.Fatalf("fold = %+v, %v", ticket, err)
	}
	if until, err := store.ReadStreamUntil(ctx, a, 2); err != nil || len(until) != 1 {
		t.Fatalf("stream until position 2 = %d records, %v; want the issue only", len(until), err)
	}
	if asOf, err := store.ReadStreamAsOf(ctx, a, now.Add(-time.Second)); err != nil || len(asOf) != 0 {
		t.Fatalf("stream as of before it began = %d records, %v", len(asOf), err)
	}
	missing, err := store.ReadStream(ctx, "no-such-stream")
	if err != nil || missing == nil || len(missing) != 0 {
		t.Fatalf("missing stream = %v, %v", missing, err)
	}
}

func (s suite) testHeadReachedAtIsTheEndOfTheCommit(t *testing.T) {
	store, db := s.open(t, Options{})
	ctx := context.Background()
	if _, err := store.Append(ctx, IssueRequest(NewStream())); err != nil {
		t.Fatal(err)
	}
	store.Close()
	store = s.reopen(t, db, Options{})
	if _, found := store.HeadReachedAt(1); found {
		t.Fatal("HeadReachedAt(1) found for an event committed before the store opened")
	}
	before := time.Now()
	res, err := store.Append(ctx, IssueRequest(NewStream(), NewStream()))
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range res.Records {
		at, found := store.HeadReachedAt(rec.Position)
		if !found || at.Before(before) || at.After(after) || at.Before(rec.OccurredAt) {
			t.Fatalf("HeadReachedAt(%d) = %v, %v; want a time within the Append (%v to %v), not before the commit's timestamp %v",
				rec.Position, at, found, before, after, rec.OccurredAt)
		}
	}
	if _, found := store.HeadReachedAt(res.Position + 1); found {
		t.Fatalf("HeadReachedAt(%d) found beyond the head", res.Position+1)
	}
}

// testReadStreamsReturnsTheirEventsInPositionOrder asks for 1,201 streams
// (more than one query of any engine's), some refunded, some never
// written, and a stream left out: the events of exactly those asked for
// come back once each, in position order.
func (s suite) testReadStreamsReturnsTheirEventsInPositionOrder(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	streams := make([]string, 1200)
	for i := range streams {
		streams[i] = NewStream()
	}
	for batch := range slices.Chunk(streams, 400) {
		if _, err := store.Append(ctx, IssueRequest(batch...)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(streams); i += 3 {
		if _, err := store.Append(ctx, RefundRequest(streams[i], 1)); err != nil {
			t.Fatal(err)
		}
	}
	asked := append(slices.Clone(streams[1:]), "no-such-stream") // streams[0] left out
	slices.Reverse(asked)
	got, err := store.ReadStreams(ctx, asked)
	if err != nil {
		t.Fatal(err)
	}
	var want []eventstore.Record
	for _, rec := range ReadAll(t, store) {
		if rec.StreamID != streams[0] {
			want = append(want, rec)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("ReadStreams of %d streams returned %d events, want %d", len(asked), len(got), len(want))
	}
	for i := range want {
		if got[i].Position != want[i].Position || got[i].StreamID != want[i].StreamID || got[i].Version != want[i].Version {
			t.Fatalf("event %d: position %d of %s v%d, want position %d of %s v%d", i,
				got[i].Position, got[i].StreamID, got[i].Version, want[i].Position, want[i].StreamID, want[i].Version)
		}
	}
	if none, err := store.ReadStreams(ctx, []string{"no-such-stream"}); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("ReadStreams of a missing stream = %v, %v; want an empty slice", none, err)
	}
}

func (s suite) testReadAllFiltersByTypeBeforeLimit(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		id := NewStream()
		ids = append(ids, id)
		if _, err := store.Append(ctx, IssueRequest(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:3] {
		if _, err := store.Append(ctx, RefundRequest(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for name, read := range map[string]func(context.Context, int64, int, ...string) ([]eventstore.Record, error){
		"ReadAll": store.ReadAll, "ReadStored": store.ReadStored,
	} {
		refunds, err := read(ctx, 0, 2, domain.TypeTicketRefunded)
		if err != nil {
			t.Fatal(err)
		}
		if len(refunds) != 2 || refunds[0].Position != 6 || refunds[1].Position != 7 {
			t.Fatalf("%s refunds = %+v", name, refunds)
		}
		after, err := read(ctx, 4, 100)
		if err != nil || len(after) != 4 || after[0].Position != 5 {
			t.Fatalf("%s after 4 = %d records, %v", name, len(after), err)
		}
	}
}

func (s suite) testWrongExpectedVersionConflictsAndWritesNothing(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	a, b := NewStream(), NewStream()
	if _, err := store.Append(ctx, IssueRequest(a)); err != nil {
		t.Fatal(err)
	}
	req := IssueRequest(b, a) // a exists, so expecting version 0 for it conflicts
	_, err := store.Append(ctx, req)
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v, want ErrConcurrency", err)
	}
	if store.Head() != 1 || len(ReadAll(t, store)) != 1 {
		t.Fatalf("a failed append wrote events: head %d", store.Head())
	}
	if _, err := store.Append(ctx, RefundRequest(a, 5)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("stale refund err = %v", err)
	}
}

// testConcurrentAppenders runs 200 appenders at once, each issuing tickets
// and racing to refund one shared ticket, while a reader tails the log by
// position: the reader never sees a gap, exactly one refund wins, and the
// log ends with positions 1..N, contiguous versions and a chain that
// verifies.
func (s suite) testConcurrentAppenders(t *testing.T) {
	var batches, maxBatch, committedEvents atomic.Int64
	store, _ := s.open(t, Options{OnCommit: func(info eventstore.CommitInfo) {
		committedEvents.Add(int64(info.Events[domain.TypeTicketIssued] + info.Events[domain.TypeTicketRefunded]))
		batches.Add(1)
		for m := maxBatch.Load(); int64(info.Appends) > m && !maxBatch.CompareAndSwap(m, int64(info.Appends)); m = maxBatch.Load() {
		}
	}})
	ctx := context.Background()
	const appenders = 200
	shared := NewStream()
	if _, err := store.Append(ctx, IssueRequest(shared)); err != nil {
		t.Fatal(err)
	}
	wantEvents := 1 + 1 // shared issue + its one refund
	for i := 0; i < appenders; i++ {
		wantEvents += 1 + i%3
	}
	tailed := make(chan error, 1)
	go func() { tailed <- tail(ctx, store, int64(wantEvents)) }()
	var wg sync.WaitGroup
	var sharedWins atomic.Int64
	errs := make(chan error, appenders)
	start := make(chan struct{})
	for i := 0; i < appenders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			ids := make([]string, 1+i%3)
			for j := range ids {
				ids[j] = NewStream()
			}
			if _, err := store.Append(ctx, IssueRequest(ids...)); err != nil {
				errs <- err
				return
			}
			_, err := store.Append(ctx, RefundRequest(shared, 1))
			switch {
			case err == nil:
				sharedWins.Add(1)
			case !errors.Is(err, eventstore.ErrConcurrency):
				errs <- err
			}
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case err := <-tailed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tailing reader did not reach the head")
	}
	if sharedWins.Load() != 1 {
		t.Fatalf("%d appenders refunded the shared ticket, want exactly 1", sharedWins.Load())
	}
	records := ReadAll(t, store)
	if len(records) != wantEvents {
		t.Fatalf("log has %d events, want %d", len(records), wantEvents)
	}
	AssertLogInvariants(t, records)
	if rep, err := eventstore.VerifyLog(ctx, store, nil); err != nil || rep.Count != 0 || rep.Events != int64(wantEvents) {
		t.Fatalf("verify = %d events, problems %v, %v", rep.Events, rep.List, err)
	}
	if committedEvents.Load() != int64(wantEvents) {
		t.Fatalf("commit hook counted %d events, want %d", committedEvents.Load(), wantEvents)
	}
	if maxBatch.Load() < 2 {
		t.Fatalf("no group commit happened: largest batch %d over %d commits", maxBatch.Load(), batches.Load())
	}
	t.Logf("%d appends in %d commits, largest batch %d", 2*appenders+1, batches.Load(), maxBatch.Load())
}

// anyVersionRequest appends one event to stream at any version.
func anyVersionRequest(stream string) eventstore.AppendRequest {
	return eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: stream, ExpectedVersion: eventstore.AnyVersion, Events: []domain.Event{SampleFollowUp()}}}}
}

// testAnyVersionAppends races 64 appends at any version to one stream: all
// commit, with versions 1..64 as stored; then appends expecting a version
// race more appends at any version, and each either wins at its version or
// fails with a conflict having written nothing; an expected version below
// AnyVersion is refused.
func (s suite) testAnyVersionAppends(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	stream := NewStream()
	race := func(anyVersion, expecting int, expected int64) (versions []int64, conflicts int) {
		t.Helper()
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range anyVersion + expecting {
			req := anyVersionRequest(stream)
			if i >= anyVersion {
				req.Streams[0].ExpectedVersion = expected
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := store.Append(ctx, req)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					versions = append(versions, res.Records[0].Version)
				case i >= anyVersion && errors.Is(err, eventstore.ErrConcurrency):
					conflicts++
				default:
					t.Errorf("append %d (expected version %d): %v", i, req.Streams[0].ExpectedVersion, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		slices.Sort(versions)
		return versions, conflicts
	}
	if versions, _ := race(64, 0, 0); !slices.Equal(versions, sequence(1, 64)) {
		t.Fatalf("64 appends at any version committed versions %v; want 1..64", versions)
	}
	versions, conflicts := race(16, 8, 64)
	if len(versions)+conflicts != 24 || conflicts < 7 || !slices.Equal(versions, sequence(65, int64(64+len(versions)))) {
		t.Fatalf("16 appends at any version and 8 expecting version 64 committed versions %v, %d conflicts; want every one at any version, at most one expecting, gap-free from 65", versions, conflicts)
	}
	end := int64(64 + len(versions))
	if _, err := store.Append(ctx, RefundRequest(stream, 64)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("an append expecting version 64 of a stream at %d: err = %v, want a conflict", end, err)
	}
	if _, err := store.Append(ctx, eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: stream, ExpectedVersion: -2, Events: []domain.Event{SampleFollowUp()}}}}); err == nil || errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("an append expecting version -2: err = %v, want it refused as malformed", err)
	}
	if res, err := store.Append(ctx, RefundRequest(stream, end)); err != nil || res.Records[0].Version != end+1 {
		t.Fatalf("an append expecting the stream's version %d: %+v, %v", end, res, err)
	}
	records, err := store.ReadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != int(end+1) {
		t.Fatalf("the stream has %d events, want %d", len(records), end+1)
	}
	AssertLogInvariants(t, ReadAll(t, store))
	if rep, err := eventstore.VerifyLog(ctx, store, nil); err != nil || rep.Count != 0 {
		t.Fatalf("verify = %v, %v", rep.List, err)
	}
}

// sequence returns from, from+1, ..., to.
func sequence(from, to int64) []int64 {
	var s []int64
	for v := from; v <= to; v++ {
		s = append(s, v)
	}
	return s
}

// tail follows the stored log by position until it has read up to head and
// fails at the first event that does not follow the one before it: a
// reader of the stored log must never see a later position before an
// earlier one is visible.
func tail(ctx context.Context, r eventstore.Reader, head int64) error {
	var last int64
	for last < head {
		page, err := r.ReadStored(ctx, last, 100)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if rec.Position != last+1 {
				return fmt.Errorf("tailing reader saw position %d after %d", rec.Position, last)
			}
			last = rec.Position
		}
		if len(page) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

func (s suite) testIdempotencyRecordIsStoredWithTheEvents(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	req := IssueRequest(NewStream(), NewStream())
	req.Idempotency = &eventstore.IdempotencyRecord{Key: "k1", Endpoint: "POST /tickets/issue", Fingerprint: "fp", Status: 201, Body: []byte(`{"ok":true}`)}
	res, err := store.Append(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rec, found, err := store.LookupIdempotency(ctx, "k1")
	if err != nil || !found {
		t.Fatalf("lookup = %v, %v", found, err)
	}
	if rec.Position != res.Position || rec.Status != 201 || string(rec.Body) != `{"ok":true}` || rec.Fingerprint != "fp" || rec.CreatedAt.IsZero() {
		t.Fatalf("record = %+v", rec)
	}

	again := IssueRequest(NewStream())
	again.Idempotency = &eventstore.IdempotencyRecord{Key: "k1", Endpoint: "POST /tickets/issue", Fingerprint: "other"}
	_, err = store.Append(ctx, again)
	var taken *eventstore.KeyTakenError
	if !errors.As(err, &taken) || taken.Existing.Fingerprint != "fp" {
		t.Fatalf("err = %v, want KeyTakenError with the first record", err)
	}
	if store.Head() != 2 {
		t.Fatalf("a taken key still appended: head %d", store.Head())
	}

	conflicting := IssueRequest(res.Records[0].StreamID) // stream exists: conflict
	conflicting.Idempotency = &eventstore.IdempotencyRecord{Key: "k2", Endpoint: "x", Fingerprint: "y", Status: 201, Body: []byte("{}")}
	if _, err := store.Append(ctx, conflicting); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v", err)
	}
	if _, found, _ := store.LookupIdempotency(ctx, "k2"); found {
		t.Fatal("the key of a failed append was stored")
	}
}

func (s suite) testSameKeyInParallelExecutesOnce(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	const callers = 12
	var wg sync.WaitGroup
	var ok, taken atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := IssueRequest(NewStream())
			req.Idempotency = &eventstore.IdempotencyRecord{Key: "same", Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
			_, err := store.Append(ctx, req)
			var kt *eventstore.KeyTakenError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &kt):
				taken.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || taken.Load() != callers-1 || store.Head() != 1 {
		t.Fatalf("ok=%d taken=%d head=%d", ok.Load(), taken.Load(), store.Head())
	}
}

func (s suite) testPurgeIdempotencyDeletesOnlyOldRecords(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	store, _ := s.open(t, Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	ctx := context.Background()
	for _, key := range []string{"old", "new"} {
		req := IssueRequest(NewStream())
		req.Idempotency = &eventstore.IdempotencyRecord{Key: key, Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
		if _, err := store.Append(ctx, req); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(48 * time.Hour)
		mu.Unlock()
	}
	n, err := store.PurgeIdempotency(ctx, now.Add(-72*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if _, found, _ := store.LookupIdempotency(ctx, "old"); found {
		t.Fatal("old key survived")
	}
	if _, found, _ := store.LookupIdempotency(ctx, "new"); !found {
		t.Fatal("new key purged")
	}
}

func (s suite) testReopenContinuesTheLog(t *testing.T) {
	ctx := context.Background()
	db := s.factory.NewDatabase(t)
	store, err := s.factory.Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := NewStream()
	if _, err := store.Append(ctx, IssueRequest(a, NewStream())); err != nil {
		t.Fatal(err)
	}
	if err := store.MoveCheckpoint(ctx, "relay:test", 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = s.reopen(t, db, Options{})
	if store.Head() != 2 {
		t.Fatalf("head after reopen = %d", store.Head())
	}
	if cp, err := store.Checkpoint(ctx, "relay:test"); err != nil || cp != 2 {
		t.Fatalf("checkpoint after reopen = %d, %v", cp, err)
	}
	res, err := store.Append(ctx, RefundRequest(a, 1))
	if err != nil || res.Position != 3 {
		t.Fatalf("append after reopen = %+v, %v", res, err)
	}
	AssertLogInvariants(t, ReadAll(t, store))
}

// testMustExistRefusesADatabaseWithoutALog opens a new database MustExist,
// and read-only, before any log is there: both fail with ErrNoDatabase and
// leave no log behind, so the default mode then creates one, which
// MustExist opens.
func (s suite) testMustExistRefusesADatabaseWithoutALog(t *testing.T) {
	db := s.factory.NewDatabase(t)
	refuse := func(what string, open func() (eventstore.Store, error)) {
		t.Helper()
		if store, err := open(); !errors.Is(err, eventstore.ErrNoDatabase) {
			if err == nil {
				store.Close()
			}
			t.Fatalf("%s open of a database without a log: err = %v, want ErrNoDatabase", what, err)
		}
	}
	for range 2 { // the second time proves the first created nothing
		refuse("MustExist", func() (eventstore.Store, error) { return s.factory.Open(db, Options{Mode: eventstore.MustExist}) })
		if s.features.OpenReadOnly != nil {
			refuse("read-only", func() (eventstore.Store, error) { return s.features.OpenReadOnly(db) })
		}
	}
	store := s.reopen(t, db, Options{Mode: eventstore.CreateMissing})
	if _, err := store.Append(context.Background(), IssueRequest(NewStream())); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if store := s.reopen(t, db, Options{Mode: eventstore.MustExist}); store.Head() != 1 {
		t.Fatalf("head of the log opened MustExist = %d, want 1", store.Head())
	}
}

func (s suite) testCloseCommitsQueuedAppendsAndRefusesNewOnes(t *testing.T) {
	db := s.factory.NewDatabase(t)
	store, err := s.factory.Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var committed atomic.Int64
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := store.Append(ctx, IssueRequest(NewStream())); err == nil {
				committed.Add(1)
			} else if domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Error(err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := store.Append(ctx, IssueRequest(NewStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append after close: %v", err)
	}
	store = s.reopen(t, db, Options{})
	if got := int64(len(ReadAll(t, store))); got != committed.Load() {
		t.Fatalf("log holds %d events, %d appends were acknowledged", got, committed.Load())
	}
}

func (s suite) testCheckWritable(t *testing.T) {
	ctx := context.Background()
	store, db := s.open(t, Options{})
	if err := store.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable on an open store = %v", err)
	}
	if s.features.OpenReadOnly != nil {
		ro, err := s.features.OpenReadOnly(db)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if err := ro.CheckWritable(ctx); domain.ErrorCode(err) != domain.CodeUnavailable {
			t.Fatalf("CheckWritable on a read-only store = %v, want code %s", err, domain.CodeUnavailable)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.CheckWritable(ctx); err == nil {
		t.Fatal("CheckWritable on a closed store = nil")
	}
}

func (s suite) testSecondWriterIsRefused(t *testing.T) {
	if !s.features.ExclusiveWriter {
		t.Skip("the engine lets several writable stores share a database")
	}
	_, db := s.open(t, Options{})
	if second, err := s.factory.Open(db, Options{}); !errors.Is(err, eventstore.ErrLocked) {
		if err == nil {
			second.Close()
		}
		t.Fatalf("second writable open: err = %v, want ErrLocked", err)
	}
	if s.features.OpenReadOnly == nil {
		return
	}
	ro, err := s.features.OpenReadOnly(db)
	if err != nil {
		t.Fatalf("read-only open beside the writer: %v", err)
	}
	defer ro.Close()
	if _, err := ro.Append(context.Background(), IssueRequest(NewStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append on read-only store: %v", err)
	}
}
