package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// claimTests are the suite's tests of bounded counters and reservations.
func (s suite) claimTests() []namedTest {
	return []namedTest{
		{"ConcurrentClaimsOnOneCounterNeverPassItsLimit", s.testConcurrentClaimsNeverPassTheLimit},
		{"NegativeClaimsGiveBack", s.testNegativeClaimsGiveBack},
		{"ReservationsCountUntilTheyExpireByTheClock", s.testReservationsCountUntilTheyExpire},
		{"SettleAndReleaseEndALiveReservationOnce", s.testSettleAndRelease},
		{"ARefusedAppendWritesNothingAndSparesItsGroup", s.testRefusedAppendWritesNothing},
		{"MalformedClaimsAreRefusedBeforeQueueing", s.testMalformedClaims},
	}
}

// namedTest is one test of the suite.
type namedTest struct {
	name string
	run  func(*testing.T)
}

// ClaimRequest is IssueRequest on a new stream with claims.
func ClaimRequest(claims ...eventstore.Claim) eventstore.AppendRequest {
	req := IssueRequest(NewStream())
	req.Claims = claims
	return req
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// mustAppend appends req and fails the test on an error.
func mustAppend(tb testing.TB, store eventstore.Store, req eventstore.AppendRequest) eventstore.AppendResult {
	tb.Helper()
	res, err := store.Append(context.Background(), req)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	return res
}

// wantLimit fails the test unless err is a *LimitError on counter at used of limit.
func wantLimit(tb testing.TB, err error, counter string, limit, used int64) {
	tb.Helper()
	var le *eventstore.LimitError
	if !errors.As(err, &le) || *le != (eventstore.LimitError{Counter: counter, Limit: limit, Used: used}) {
		tb.Fatalf("append error = %v, want a LimitError of %s at %d of %d", err, counter, used, limit)
	}
}

// wantReservation fails the test unless err is a *ReservationError of id in state.
func wantReservation(tb testing.TB, err error, id, state string) {
	tb.Helper()
	var re *eventstore.ReservationError
	if !errors.As(err, &re) || *re != (eventstore.ReservationError{ID: id, State: state}) {
		tb.Fatalf("append error = %v, want a ReservationError of %s, %s", err, id, state)
	}
}

// wantUsed fails the test unless counter has used exactly used of limit:
// the rest fits in one claim and one more does not. It leaves the counter
// full.
func wantUsed(tb testing.TB, store eventstore.Store, counter string, limit, used int64) {
	tb.Helper()
	if used < limit {
		mustAppend(tb, store, ClaimRequest(eventstore.Claim{Counter: counter, Limit: limit, Amount: limit - used}))
	}
	_, err := store.Append(context.Background(), ClaimRequest(eventstore.Claim{Counter: counter, Limit: limit, Amount: 1}))
	wantLimit(tb, err, counter, limit, limit)
}

// wantClean fails the test unless the log verifies without a problem.
func wantClean(tb testing.TB, store eventstore.Store) {
	tb.Helper()
	rep, err := eventstore.VerifyLog(context.Background(), store, nil)
	if err != nil || rep.Count != 0 || rep.Events != store.Head() {
		tb.Fatalf("verify = %+v, %v; want no problem in %d events", rep, err, store.Head())
	}
}

// 256 concurrent appends claim one each of a counter of limit 100: exactly
// 100 commit, the others fail with a LimitError at 100 and write nothing.
func (s suite) testConcurrentClaimsNeverPassTheLimit(t *testing.T) {
	store, _ := s.open(t, Options{})
	const callers, limit = 256, 100
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	start := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := store.Append(context.Background(), ClaimRequest(eventstore.Claim{Counter: "hot", Limit: limit, Amount: 1}))
			var le *eventstore.LimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &le) && le.Used == limit && le.Limit == limit && le.Counter == "hot":
				refused.Add(1)
			default:
				t.Errorf("append: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != limit || refused.Load() != callers-limit || store.Head() != limit {
		t.Fatalf("committed %d, refused %d, head %d; want %d, %d, %d", ok.Load(), refused.Load(), store.Head(), limit, callers-limit, limit)
	}
	wantUsed(t, store, "hot", limit, limit)
	wantClean(t, store)
}

// A negative amount gives back and is never refused, also at the limit.
func (s suite) testNegativeClaimsGiveBack(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "c", Limit: 2, Amount: 2}))
	_, err := store.Append(ctx, ClaimRequest(eventstore.Claim{Counter: "c", Limit: 2, Amount: 1}))
	wantLimit(t, err, "c", 2, 2)
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "c", Limit: 2, Amount: -1}))
	// Claims of one append apply in order: the give-back makes room for the claim after it.
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "c", Limit: 2, Amount: 1},
		eventstore.Claim{Counter: "c", Limit: 2, Amount: -1}, eventstore.Claim{Counter: "c", Limit: 2, Amount: 1}))
	wantUsed(t, store, "c", 2, 2)
	// The limit travels with each claim: a give-back over a lowered limit still holds.
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "c", Limit: 1, Amount: -1}))
	wantUsed(t, store, "c", 3, 1)
	// A stream conflict is reported before a claim that does not fit, on every engine.
	conflict := ClaimRequest(eventstore.Claim{Counter: "c", Limit: 3, Amount: 1})
	conflict.Streams = append(conflict.Streams, RefundRequest(NewStream(), 0).Streams...)
	mustAppend(t, store, IssueRequest(conflict.Streams[1].StreamID))
	if _, err := store.Append(ctx, conflict); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("append with a conflict and a claim that does not fit: %v, want a conflict", err)
	}
}

// A reservation takes its amounts until its expiry by the store's clock;
// from that instant they are free, it is listed as expired, it can no
// longer be settled, and it can be released once, staying expired.
func (s suite) testReservationsCountUntilTheyExpire(t *testing.T) {
	clock := newTestClock()
	store, _ := s.open(t, Options{Now: clock.Now})
	ctx := context.Background()
	start := clock.Now()
	expires := start.Add(10 * time.Second)
	reserving := IssueRequest(NewStream())
	reserving.Reserve = []eventstore.Reservation{{ID: "r1", ExpiresAt: expires, Claims: []eventstore.Claim{
		{Counter: "stock", Limit: 3, Amount: 2}, {Counter: "per-owner", Limit: 2, Amount: 2}}}}
	mustAppend(t, store, reserving)
	_, err := store.Append(ctx, ClaimRequest(eventstore.Claim{Counter: "stock", Limit: 3, Amount: 2}))
	wantLimit(t, err, "stock", 3, 2)
	if got, err := store.ExpiredReservations(ctx, expires.Add(-time.Microsecond), 10); err != nil || len(got) != 0 {
		t.Fatalf("expired before the expiry = %+v, %v", got, err)
	}

	clock.set(expires.Add(-time.Microsecond))
	_, err = store.Append(ctx, ClaimRequest(eventstore.Claim{Counter: "per-owner", Limit: 2, Amount: 1}))
	wantLimit(t, err, "per-owner", 2, 2)

	clock.set(expires)
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "stock", Limit: 3, Amount: 3}))
	got, err := store.ExpiredReservations(ctx, expires, 10)
	if err != nil || len(got) != 1 || got[0].ID != "r1" || !got[0].ExpiresAt.Equal(expires) || len(got[0].Claims) != 2 || got[0].Claims[1] != reserving.Reserve[0].Claims[1] {
		t.Fatalf("expired at the expiry = %+v, %v", got, err)
	}
	settle := IssueRequest(NewStream())
	settle.Settle = []eventstore.Settle{{ReservationID: "r1"}}
	_, err = store.Append(ctx, settle)
	wantReservation(t, err, "r1", eventstore.ReservationExpired)

	release := func() eventstore.AppendRequest {
		req := IssueRequest(NewStream())
		req.Release = []eventstore.Release{{ReservationID: "r1"}}
		return req
	}
	mustAppend(t, store, release())
	_, err = store.Append(ctx, release())
	wantReservation(t, err, "r1", eventstore.ReservationExpired)
	_, err = store.Append(ctx, settle)
	wantReservation(t, err, "r1", eventstore.ReservationExpired)
	if got, err := store.ExpiredReservations(ctx, expires.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("expired after the release = %+v, %v", got, err)
	}
	wantUsed(t, store, "stock", 3, 3)
	wantUsed(t, store, "per-owner", 2, 0)

	// Expired reservations come in order of expiry, up to the limit.
	for i, id := range []string{"late", "early", "never"} {
		req := IssueRequest(NewStream())
		req.Reserve = []eventstore.Reservation{{ID: id, ExpiresAt: expires.Add(time.Duration(3-i) * time.Minute), Claims: []eventstore.Claim{{Counter: "x", Limit: 9, Amount: 1}}}}
		if id == "never" {
			req.Reserve[0].ExpiresAt = expires.Add(time.Hour)
		}
		mustAppend(t, store, req)
	}
	got, err = store.ExpiredReservations(ctx, expires.Add(30*time.Minute), 10)
	if err != nil || len(got) != 2 || got[0].ID != "early" || got[1].ID != "late" {
		t.Fatalf("expired = %+v, %v; want early, late", got, err)
	}
	if got, err := store.ExpiredReservations(ctx, expires.Add(30*time.Minute), 1); err != nil || len(got) != 1 || got[0].ID != "early" {
		t.Fatalf("expired, limit 1 = %+v, %v", got, err)
	}
	wantClean(t, store)
}

// Settle makes a live reservation's amounts (or the claims it names)
// permanent; Release frees them; each ends the reservation once, and
// neither knows an unknown one. A reservation's ID is taken once.
func (s suite) testSettleAndRelease(t *testing.T) {
	clock := newTestClock()
	store, _ := s.open(t, Options{Now: clock.Now})
	ctx := context.Background()
	expires := clock.Now().Add(time.Minute)
	reserve := func(id string, amount int64) eventstore.AppendRequest {
		req := IssueRequest(NewStream())
		req.Reserve = []eventstore.Reservation{{ID: id, ExpiresAt: expires, Claims: []eventstore.Claim{{Counter: "stock", Limit: 10, Amount: amount}}}}
		return req
	}
	settle := func(id string, claims ...eventstore.Claim) eventstore.AppendRequest {
		req := IssueRequest(NewStream())
		req.Settle = []eventstore.Settle{{ReservationID: id, Claims: claims}}
		return req
	}
	release := func(id string) eventstore.AppendRequest {
		req := IssueRequest(NewStream())
		req.Release = []eventstore.Release{{ReservationID: id}}
		return req
	}
	mustAppend(t, store, reserve("a", 4))
	mustAppend(t, store, reserve("b", 3))
	mustAppend(t, store, reserve("c", 3))
	_, err := store.Append(ctx, reserve("d", 1))
	wantLimit(t, err, "stock", 10, 10)
	_, err = store.Append(ctx, reserve("a", 1))
	var exists *eventstore.ReservationExistsError
	if !errors.As(err, &exists) || exists.ID != "a" {
		t.Fatalf("reserving a taken id: %v", err)
	}

	mustAppend(t, store, settle("a"))
	mustAppend(t, store, settle("b", eventstore.Claim{Counter: "stock", Limit: 10, Amount: 1}))
	mustAppend(t, store, release("c"))
	for _, id := range []string{"a", "b"} {
		_, err = store.Append(ctx, settle(id))
		wantReservation(t, err, id, eventstore.ReservationSettled)
		_, err = store.Append(ctx, release(id))
		wantReservation(t, err, id, eventstore.ReservationSettled)
	}
	_, err = store.Append(ctx, settle("c"))
	wantReservation(t, err, "c", eventstore.ReservationReleased)
	_, err = store.Append(ctx, release("c"))
	wantReservation(t, err, "c", eventstore.ReservationReleased)
	_, err = store.Append(ctx, settle("nobody"))
	wantReservation(t, err, "nobody", eventstore.ReservationUnknown)
	_, err = store.Append(ctx, release("nobody"))
	wantReservation(t, err, "nobody", eventstore.ReservationUnknown)

	// Settled amounts stay after the expiry: a's 4 and b's 1.
	clock.set(expires.Add(time.Hour))
	wantUsed(t, store, "stock", 10, 5)

	// A release makes room for the claims of its own append.
	mustAppend(t, store, ClaimRequest(eventstore.Claim{Counter: "stock", Limit: 10, Amount: -10}))
	expires = clock.Now().Add(time.Hour)
	mustAppend(t, store, reserve("f", 10))
	swap := release("f")
	swap.Claims = []eventstore.Claim{{Counter: "stock", Limit: 10, Amount: 10}}
	mustAppend(t, store, swap)
	wantUsed(t, store, "stock", 10, 10)
	wantClean(t, store)
}

// An append refused by its claims writes nothing (no event, no idempotency
// record, no counter or reservation change, also of its parts that held)
// and its neighbours in the same group commit commit.
func (s suite) testRefusedAppendWritesNothing(t *testing.T) {
	var mu sync.Mutex
	var mixed int // group commits that carried refused and committed appends
	store, _ := s.open(t, Options{OnCommit: func(info eventstore.CommitInfo) {
		mu.Lock()
		defer mu.Unlock()
		if info.Err == nil && info.Failed > 0 && info.Failed < info.Appends {
			mixed++
		}
	}})
	ctx := context.Background()
	keep := IssueRequest(NewStream())
	keep.Reserve = []eventstore.Reservation{{ID: "keep", ExpiresAt: time.Now().Add(time.Hour), Claims: []eventstore.Claim{{Counter: "kept", Limit: 1, Amount: 1}}}}
	mustAppend(t, store, keep)

	const pairs = 64
	var committed atomic.Int64
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 * pairs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream := NewStream()
				req := IssueRequest(stream)
				req.Idempotency = &eventstore.IdempotencyRecord{Key: fmt.Sprintf("%d-%d", round, i), Endpoint: "e", Fingerprint: "f", Status: 201, Body: []byte("{}")}
				req.Claims = []eventstore.Claim{{Counter: "spent", Limit: 1 << 40, Amount: 1}}
				refuse := i%2 == 0
				if refuse {
					// Every part but the last holds, and is applied, before the last fails.
					req.Release = []eventstore.Release{{ReservationID: "keep"}}
					req.Reserve = []eventstore.Reservation{{ID: "never-" + req.Idempotency.Key, ExpiresAt: time.Now().Add(time.Hour), Claims: []eventstore.Claim{
						{Counter: "reserved", Limit: 1, Amount: 1}, {Counter: "zero", Limit: 0, Amount: 1}}}}
				}
				<-start
				_, err := store.Append(ctx, req)
				var le *eventstore.LimitError
				switch {
				case refuse && (!errors.As(err, &le) || *le != eventstore.LimitError{Counter: "zero"}):
					t.Errorf("refused append: %v, want a LimitError of zero at 0 of 0", err)
				case refuse:
					release := IssueRequest(NewStream())
					release.Release = []eventstore.Release{{ReservationID: "never-" + req.Idempotency.Key}}
					var re *eventstore.ReservationError
					if _, err := store.Append(ctx, release); !errors.As(err, &re) || re.State != eventstore.ReservationUnknown {
						t.Errorf("the reservation of a refused append: %v, want unknown", err)
					}
					if _, found, err := store.LookupIdempotency(ctx, req.Idempotency.Key); err != nil || found {
						t.Errorf("a refused append stored its idempotency record: %v, %v", found, err)
					}
					if events, err := store.ReadStream(ctx, stream); err != nil || len(events) != 0 {
						t.Errorf("a refused append wrote %d events, %v", len(events), err)
					}
				case err != nil:
					t.Errorf("a neighbour of refused appends failed: %v", err)
				default:
					committed.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		mu.Lock()
		done := mixed > 0
		mu.Unlock()
		if done || t.Failed() {
			break
		}
	}
	if mixed == 0 {
		t.Fatal("no group commit carried both refused and committed appends")
	}
	if store.Head() != committed.Load()+1 {
		t.Fatalf("head %d, want the %d committed appends after the first", store.Head(), committed.Load())
	}
	wantUsed(t, store, "spent", 1<<40, committed.Load())
	wantUsed(t, store, "reserved", 1, 0)
	wantUsed(t, store, "kept", 1, 1) // the reservation was not released
	settle := IssueRequest(NewStream())
	settle.Settle = []eventstore.Settle{{ReservationID: "keep"}}
	mustAppend(t, store, settle)
	wantClean(t, store)
}

// Malformed claims fail the append before it is queued.
func (s suite) testMalformedClaims(t *testing.T) {
	store, _ := s.open(t, Options{})
	for _, req := range []eventstore.AppendRequest{
		ClaimRequest(eventstore.Claim{Limit: 1, Amount: 1}),
		ClaimRequest(eventstore.Claim{Counter: "c", Limit: -1, Amount: -1}),
		{Reserve: []eventstore.Reservation{{ID: "r", Claims: []eventstore.Claim{{Counter: "c", Limit: 1, Amount: 1}}}}},
		{Reserve: []eventstore.Reservation{{ID: "r", ExpiresAt: time.Now(), Claims: []eventstore.Claim{{Counter: "c", Limit: 1, Amount: -1}}}}},
		{Settle: []eventstore.Settle{{}}},
		{Release: []eventstore.Release{{}}},
	} {
		if _, err := store.Append(context.Background(), req); err == nil {
			t.Errorf("append of %+v committed", req)
		}
	}
	if store.Head() != 0 {
		t.Fatalf("head %d after malformed appends", store.Head())
	}
}

// BenchmarkClaims measures concurrent appends of one event each on store,
// without claims and with two claims per append (a counter every append
// shares and one of 64 others), in one run.
func BenchmarkClaims(b *testing.B, store eventstore.Store) {
	var seq atomic.Int64
	for _, bc := range []struct {
		name   string
		claims func() []eventstore.Claim
	}{
		{"without-claims", func() []eventstore.Claim { return nil }},
		{"with-claims", func() []eventstore.Claim {
			n := seq.Add(1)
			return []eventstore.Claim{{Counter: "hot", Limit: 1 << 40, Amount: 1}, {Counter: fmt.Sprintf("hot/%d", n%64), Limit: 1 << 40, Amount: 1}}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := IssueRequest(NewStream())
					req.Claims = bc.claims()
					if _, err := store.Append(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
