package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
)

func TestAppendAndReadBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	s, _ := MustOpenStore(t, postgres.Options{Now: func() time.Time { return now }})
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
	if stream[0].Hash != res.Records[0].Hash || stream[0].Hash != stream[0].ComputeHash() || res.Records[0].PrevHash != eventstore.GenesisHash {
		t.Fatalf("stored hash %s, appended %s, computed %s", stream[0].Hash, res.Records[0].Hash, stream[0].ComputeHash())
	}
	ticket, err := eventstore.Fold(stream)
	if err != nil || ticket.Status != domain.StatusCanceled || ticket.Version != 2 || ticket.PriceKRW != 15000 {
		t.Fatalf("fold = %+v, %v", ticket, err)
	}
	missing, err := s.ReadStream(ctx, "no-such-stream")
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing stream = %v, %v", missing, err)
	}
	until, err := s.ReadStreamUntil(ctx, a, 2)
	if err != nil || len(until) != 1 {
		t.Fatalf("until position 2 = %v, %v", until, err)
	}
	asOf, err := s.ReadStreamAsOf(ctx, a, now.Add(-time.Second))
	if err != nil || len(asOf) != 0 {
		t.Fatalf("as of before the events = %v, %v", asOf, err)
	}
	if pos, hash := s.LogHead(); pos != 3 || hash != readAll(t, s)[2].Hash || s.LastHash() != hash {
		t.Fatalf("log head = %d %s", pos, hash)
	}
}

func TestReadAllFiltersByTypeBeforeLimit(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
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
	s, _ := MustOpenStore(t, postgres.Options{})
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

func TestIdempotencyRecordIsStoredWithTheEvents(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
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
	if !errors.As(err, &taken) || taken.Existing.Fingerprint != "fp" || string(taken.Existing.Body) != `{"ok":true}` || taken.Existing.Position != res.Position {
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

func TestPurgeIdempotencyDeletesOnlyOldRecords(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	s, _ := MustOpenStore(t, postgres.Options{Now: func() time.Time { return clock() }})
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

func TestCheckpointsAreStoredAndOverwritten(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	if pos, err := s.Checkpoint(ctx, "relay"); err != nil || pos != 0 {
		t.Fatalf("missing checkpoint = %d, %v", pos, err)
	}
	for _, pos := range []int64{7, 9} {
		if err := s.SaveCheckpoint(ctx, "relay", pos); err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := s.Checkpoint(ctx, "relay"); err != nil || pos != 9 {
		t.Fatalf("checkpoint = %d, %v", pos, err)
	}
}

func TestReopenContinuesTheLog(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, db, postgres.Options{})
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
	s = mustOpen(t, db, postgres.Options{})
	if s.Head() != 2 {
		t.Fatalf("head after reopen = %d", s.Head())
	}
	res, err := s.Append(ctx, refundReq(a, 1))
	if err != nil || res.Position != 3 {
		t.Fatalf("append after reopen = %+v, %v", res, err)
	}
	assertLogInvariants(t, readAll(t, s))
}

func TestCloseCommitsQueuedAppendsAndRefusesNewOnes(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	s, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 50)
	committed := 0
	for i := 0; i < 50; i++ {
		go func() {
			_, err := s.Append(ctx, issueReq(newStream()))
			done <- err
		}()
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		err := <-done
		switch {
		case err == nil:
			committed++
		case domain.ErrorCode(err) != domain.CodeUnavailable:
			t.Error(err)
		}
	}
	if _, err := s.Append(ctx, issueReq(newStream())); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("append after close: %v", err)
	}
	s = mustOpen(t, db, postgres.Options{})
	if got := len(readAll(t, s)); got != committed {
		t.Fatalf("log holds %d events, %d appends were acknowledged", got, committed)
	}
}
