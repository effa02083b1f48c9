package eventstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// MustOpenStore opens a store on a fresh file in tb's temp dir and closes it
// at the end of the test.
func MustOpenStore(tb testing.TB, opts eventstore.Options) (*eventstore.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "app.db")
	s, err := eventstore.Open(path, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

func issued(price int64) domain.TicketIssued {
	return domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: price}
}

func newStream() string { return uuid.Must(uuid.NewV7()).String() }

func issueReq(streams ...string) eventstore.AppendRequest {
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "req-1", CorrelationID: "corr-1"}}
	for _, id := range streams {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{issued(15000)}})
	}
	return req
}

func refundReq(stream string, expected int64) eventstore.AppendRequest {
	return eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: stream, ExpectedVersion: expected, Events: []domain.Event{domain.TicketRefunded{}}}}}
}

func readAll(tb testing.TB, s *eventstore.Store) []eventstore.Record {
	tb.Helper()
	var all []eventstore.Record
	for after := int64(0); ; {
		page, err := s.ReadAll(context.Background(), after, 1000)
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

// assertLogInvariants checks positions are 1..n without gaps and every
// stream's versions are 1..k in position order.
func assertLogInvariants(tb testing.TB, records []eventstore.Record) {
	tb.Helper()
	versions := map[string]int64{}
	for i, r := range records {
		if r.Position != int64(i+1) {
			tb.Fatalf("record %d has position %d: gap or duplicate", i, r.Position)
		}
		versions[r.StreamID]++
		if r.Version != versions[r.StreamID] {
			tb.Fatalf("stream %s: event at position %d has version %d, want %d", r.StreamID, r.Position, r.Version, versions[r.StreamID])
		}
	}
}

func TestAppendAndReadBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	s, _ := MustOpenStore(t, eventstore.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	a, b := newStream(), newStream()
	res, err := s.Append(ctx, issueReq(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if res.Position != 2 || len(res.Records) != 2 || res.Records[0].StreamID != a || res.Records[1].Position != 2 {
		t.Fatalf("result = %+v", res)
	}
	if s.Head() != 2 {
		t.Fatalf("head = %d", s.Head())
	}
	if _, err := s.Append(ctx, refundReq(a, 1)); err != nil {
		t.Fatal(err)
	}
	stream, err := s.ReadStream(ctx, a)
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
	missing, err := s.ReadStream(ctx, "no-such-stream")
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing stream = %v, %v", missing, err)
	}
}

func TestReadAllFiltersByTypeBeforeLimit(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		id := newStream()
		ids = append(ids, id)
		if _, err := s.Append(ctx, issueReq(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:3] {
		if _, err := s.Append(ctx, refundReq(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	refunds, err := s.ReadAll(ctx, 0, 2, domain.TypeTicketRefunded)
	if err != nil {
		t.Fatal(err)
	}
	if len(refunds) != 2 || refunds[0].Position != 6 || refunds[1].Position != 7 {
		t.Fatalf("refunds = %+v", refunds)
	}
	after, err := s.ReadAll(ctx, 4, 100)
	if err != nil || len(after) != 4 || after[0].Position != 5 {
		t.Fatalf("after 4 = %d records, %v", len(after), err)
	}
}

func TestAppendWithWrongExpectedVersionConflictsAndWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	a, b := newStream(), newStream()
	if _, err := s.Append(ctx, issueReq(a)); err != nil {
		t.Fatal(err)
	}
	req := issueReq(b, a) // a exists, so expecting version 0 for it conflicts
	_, err := s.Append(ctx, req)
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v, want ErrConcurrency", err)
	}
	if s.Head() != 1 || len(readAll(t, s)) != 1 {
		t.Fatalf("a failed append wrote events: head %d", s.Head())
	}
	if _, err := s.Append(ctx, refundReq(a, 5)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("stale refund err = %v", err)
	}
}

func TestConcurrentAppendersUnderGroupCommit(t *testing.T) {
	t.Parallel()
	var batches, maxBatch atomic.Int64
	var committedEvents atomic.Int64
	s, _ := MustOpenStore(t, eventstore.Options{OnCommit: func(info eventstore.CommitInfo) {
		n := info.Appends
		committedEvents.Add(int64(info.Events[domain.TypeTicketIssued] + info.Events[domain.TypeTicketRefunded]))
		batches.Add(1)
		for {
			m := maxBatch.Load()
			if int64(n) <= m || maxBatch.CompareAndSwap(m, int64(n)) {
				break
			}
		}
	}})
	ctx := context.Background()
	const appenders = 200
	shared := newStream()
	if _, err := s.Append(ctx, issueReq(shared)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var sharedWins atomic.Int64
	errs := make(chan error, appenders)
	start := make(chan struct{})
	for i := 0; i < appenders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			// Every appender issues 1-3 tickets of its own and races to
			// refund the shared ticket, which only one may do.
			ids := make([]string, 1+i%3)
			for j := range ids {
				ids[j] = newStream()
			}
			if _, err := s.Append(ctx, issueReq(ids...)); err != nil {
				errs <- err
				return
			}
			_, err := s.Append(ctx, refundReq(shared, 1))
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
	if sharedWins.Load() != 1 {
		t.Fatalf("%d appenders refunded the shared ticket, want exactly 1", sharedWins.Load())
	}
	records := readAll(t, s)
	wantEvents := 1 + 1 // shared issue + its one refund
	for i := 0; i < appenders; i++ {
		wantEvents += 1 + i%3
	}
	if len(records) != wantEvents {
		t.Fatalf("log has %d events, want %d", len(records), wantEvents)
	}
	assertLogInvariants(t, records)
	if committedEvents.Load() != int64(wantEvents) {
		t.Fatalf("commit hook counted %d events, want %d", committedEvents.Load(), wantEvents)
	}
	if maxBatch.Load() < 2 {
		t.Fatalf("no group commit happened: largest batch %d over %d commits", maxBatch.Load(), batches.Load())
	}
	t.Logf("%d appends in %d commits, largest batch %d", 2*appenders+1, batches.Load(), maxBatch.Load())
}

func TestIdempotencyRecordIsStoredWithTheEvents(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	req := issueReq(newStream(), newStream())
	req.Idempotency = &eventstore.IdempotencyRecord{Key: "k1", Endpoint: "POST /tickets/issue", Fingerprint: "fp", Status: 201, Body: []byte(`{"ok":true}`)}
	res, err := s.Append(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rec, found, err := s.LookupIdempotency(ctx, "k1")
	if err != nil || !found {
		t.Fatalf("lookup = %v, %v", found, err)
	}
	if rec.Position != res.Position || rec.Status != 201 || string(rec.Body) != `{"ok":true}` || rec.Fingerprint != "fp" || rec.CreatedAt.IsZero() {
		t.Fatalf("record = %+v", rec)
	}

	again := issueReq(newStream())
	again.Idempotency = &eventstore.IdempotencyRecord{Key: "k1", Endpoint: "POST /tickets/issue", Fingerprint: "other"}
	_, err = s.Append(ctx, again)
	var taken *eventstore.KeyTakenError
	if !errors.As(err, &taken) || taken.Existing.Fingerprint != "fp" {
		t.Fatalf("err = %v, want KeyTakenError with the first record", err)
	}
	if s.Head() != 2 {
		t.Fatalf("a taken key still appended: head %d", s.Head())
	}

	conflicting := issueReq(res.Records[0].StreamID) // stream exists: conflict
	conflicting.Idempotency = &eventstore.IdempotencyRecord{Key: "k2", Endpoint: "x", Fingerprint: "y", Status: 201, Body: []byte("{}")}
	if _, err := s.Append(ctx, conflicting); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v", err)
	}
	if _, found, _ := s.LookupIdempotency(ctx, "k2"); found {
		t.Fatal("the key of a failed append was stored")
	}
}

func TestSameKeyInParallelExecutesOnce(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	const callers = 12
	var wg sync.WaitGroup
	var ok, taken atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := issueReq(newStream())
			req.Idempotency = &eventstore.IdempotencyRecord{Key: "same", Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
			_, err := s.Append(ctx, req)
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
	if ok.Load() != 1 || taken.Load() != callers-1 || s.Head() != 1 {
		t.Fatalf("ok=%d taken=%d head=%d", ok.Load(), taken.Load(), s.Head())
	}
}

func TestPurgeIdempotencyDeletesOnlyOldRecords(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	s, _ := MustOpenStore(t, eventstore.Options{Now: func() time.Time { return clock() }})
	ctx := context.Background()
	for _, key := range []string{"old", "new"} {
		req := issueReq(newStream())
		req.Idempotency = &eventstore.IdempotencyRecord{Key: key, Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
		if _, err := s.Append(ctx, req); err != nil {
			t.Fatal(err)
		}
		now = now.Add(48 * time.Hour)
	}
	n, err := s.PurgeIdempotency(ctx, now.Add(-72*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if _, found, _ := s.LookupIdempotency(ctx, "old"); found {
		t.Fatal("old key survived")
	}
	if _, found, _ := s.LookupIdempotency(ctx, "new"); !found {
		t.Fatal("new key purged")
	}
}

func TestReopenContinuesTheLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	ctx := context.Background()
	s, err := eventstore.Open(path, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := newStream()
	if _, err := s.Append(ctx, issueReq(a, newStream())); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = eventstore.Open(path, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Head() != 2 {
		t.Fatalf("head after reopen = %d", s.Head())
	}
	res, err := s.Append(ctx, refundReq(a, 1))
	if err != nil || res.Position != 3 {
		t.Fatalf("append after reopen = %+v, %v", res, err)
	}
	assertLogInvariants(t, readAll(t, s))
}

func TestSecondWriterOnOneFileIsRefused(t *testing.T) {
	t.Parallel()
	_, path := MustOpenStore(t, eventstore.Options{})
	if _, err := eventstore.Open(path, eventstore.Options{}); !errors.Is(err, eventstore.ErrLocked) {
		t.Fatalf("second writable open: err = %v, want ErrLocked", err)
	}
	ro, err := eventstore.Open(path, eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open beside the writer: %v", err)
	}
	defer ro.Close()
	if _, err := ro.Append(context.Background(), issueReq(newStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append on read-only store: %v", err)
	}
}

func TestCloseCommitsQueuedAppendsAndRefusesNewOnes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := eventstore.Open(path, eventstore.Options{})
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
			if _, err := s.Append(ctx, issueReq(newStream())); err == nil {
				committed.Add(1)
			} else if domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Error(err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Append(ctx, issueReq(newStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append after close: %v", err)
	}
	s, err = eventstore.Open(path, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := int64(len(readAll(t, s))); got != committed.Load() {
		t.Fatalf("log holds %d events, %d appends were acknowledged", got, committed.Load())
	}
}

func TestOpenReadOnlyRefusesAFileThatIsNotAnEventLog(t *testing.T) {
	t.Parallel()
	if _, err := eventstore.Open(filepath.Join(t.TempDir(), "missing.db"), eventstore.Options{ReadOnly: true}); err == nil {
		t.Fatal("opened a missing file read-only")
	}
}
