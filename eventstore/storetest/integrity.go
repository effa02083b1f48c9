package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

func (s suite) testAppendsChainFromGenesis(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	if _, hash := store.LogHead(); hash != eventstore.GenesisHash {
		t.Fatalf("empty log's last hash = %s", hash)
	}
	a := NewStream()
	if _, err := store.Append(ctx, IssueRequest(a, NewStream())); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, RefundRequest(a, 1)); err != nil {
		t.Fatal(err)
	}
	prev := eventstore.GenesisHash
	for _, r := range ReadAll(t, store) {
		if r.PrevHash != prev || r.Hash != r.ComputeHash() {
			t.Fatalf("event %d: prev_hash %s hash %s; want prev %s and hash %s", r.Position, r.PrevHash, r.Hash, prev, r.ComputeHash())
		}
		prev = r.Hash
	}
	if pos, hash := store.LogHead(); pos != 3 || hash != prev {
		t.Fatalf("LogHead = %d %s, want 3 %s", pos, hash, prev)
	}
	rep, err := eventstore.VerifyLog(ctx, store, nil)
	if err != nil || rep.Count != 0 || rep.Events != 3 || rep.Streams != 2 || rep.LastHash != prev {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

func (s suite) testFailedAppendsInAGroupKeepTheChainExact(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	a := NewStream()
	if _, err := store.Append(ctx, IssueRequest(a)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 60)
	for i := 0; i < 60; i++ {
		go func(i int) {
			var err error
			if i%3 == 0 {
				_, err = store.Append(ctx, RefundRequest(a, 7)) // always conflicts
			} else {
				_, err = store.Append(ctx, IssueRequest(NewStream()))
			}
			done <- err
		}(i)
	}
	for i := 0; i < 60; i++ {
		<-done
	}
	rep, err := eventstore.VerifyLog(ctx, store, nil)
	if err != nil || rep.Count != 0 || rep.Events != 41 {
		t.Fatalf("verify after mixed group = %+v, %v", rep, err)
	}
}

func (s suite) testImportRefusesRecordsThatBreakTheChain(t *testing.T) {
	src, _ := s.open(t, Options{})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := src.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	records := ReadAll(t, src)
	tampered := append([]eventstore.Record(nil), records...)
	tampered[1].Data = []byte(`{"theater_name":"X","user_id":"u","movie_title":"m","price_krw":1,"memo":null}`)
	dst, _ := s.open(t, Options{})
	if err := dst.Import(ctx, tampered); !errors.Is(err, eventstore.ErrChain) || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("tampered import: %v", err)
	}
	if dst.Head() != 0 {
		t.Fatalf("a refused import left %d events", dst.Head())
	}
	if err := dst.Import(ctx, records[1:]); !errors.Is(err, eventstore.ErrChain) {
		t.Fatalf("import that skips position 1: %v", err)
	}
	if err := dst.Import(ctx, records); err != nil {
		t.Fatal(err)
	}
	_, srcHash := src.LogHead()
	if pos, hash := dst.LogHead(); pos != 3 || hash != srcHash || dst.Head() != 3 {
		t.Fatalf("imported tip %d %s, want 3 %s", pos, hash, srcHash)
	}
	if err := dst.Import(ctx, records[:1]); !errors.Is(err, eventstore.ErrChain) {
		t.Fatalf("importing an event the log holds: %v", err)
	}
}

func (s suite) testCheckHeadsFindsEverySavedHeadTheLogLost(t *testing.T) {
	store, _ := s.open(t, Options{})
	ctx := context.Background()
	genesis := eventstore.SavedHead{Position: 0, Hash: eventstore.GenesisHash}
	if ps, err := eventstore.CheckHeads(ctx, store, []eventstore.SavedHead{genesis}); err != nil || ps.Count != 0 {
		t.Fatalf("an empty log holds the genesis head: %+v, %v", ps, err)
	}
	if _, err := store.Append(ctx, IssueRequest(NewStream(), NewStream())); err != nil {
		t.Fatal(err)
	}
	pos, hash := store.LogHead()
	heads := []eventstore.SavedHead{genesis, {Position: pos, Hash: hash},
		{Position: 3, Hash: hash}, {Position: 1, Hash: hash}, {Position: 0, Hash: hash}}
	ps, err := eventstore.CheckHeads(ctx, store, heads)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind     string
		position int64
	}{{eventstore.ProblemHeadMissing, 3}, {eventstore.ProblemHeadMismatch, 1}, {eventstore.ProblemHeadMismatch, 0}}
	if ps.Count != len(want) {
		t.Fatalf("problems = %+v, want %v", ps.List, want)
	}
	for i, w := range want {
		if ps.List[i].Kind != w.kind || ps.List[i].Position != w.position {
			t.Errorf("problem %d = %+v, want %s at %d", i, ps.List[i], w.kind, w.position)
		}
	}
}

// withCorruptEvent returns a store of three events over a database whose
// event at position 2 had column set to value behind the store's back (then
// reopened, so nothing of it is held in memory), and the stream of events
// 2 and 3.
func (s suite) withCorruptEvent(t *testing.T, column string, value *string) (eventstore.Store, string) {
	t.Helper()
	db := s.factory.NewDatabase(t)
	store, err := s.factory.Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream := NewStream()
	for _, req := range []eventstore.AppendRequest{IssueRequest(NewStream()), IssueRequest(stream), RefundRequest(stream, 1)} {
		if _, err := store.Append(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	s.features.SetColumn(t, db, 2, column, value)
	return s.reopen(t, db, Options{}), stream
}

func (s suite) testReadsOfACorruptEventFailNamingItsPosition(t *testing.T) {
	if s.features.SetColumn == nil {
		t.Skip("the engine's factory cannot change stored events")
	}
	ctx := context.Background()
	for _, tt := range []struct{ column, value string }{
		{"data", `{"theater_name": "CGV`}, {"data", `[1, 2]`}, {"data", ``}, {"data", ` `}, {"metadata", `null`}, {"metadata", `{"request_id":}`},
	} {
		store, stream := s.withCorruptEvent(t, tt.column, &tt.value)
		reads := map[string]func() ([]eventstore.Record, error){
			"ReadAll":         func() ([]eventstore.Record, error) { return store.ReadAll(ctx, 0, 10) },
			"ReadStored":      func() ([]eventstore.Record, error) { return store.ReadStored(ctx, 1, 1) },
			"ReadStream":      func() ([]eventstore.Record, error) { return store.ReadStream(ctx, stream) },
			"ReadStreams":     func() ([]eventstore.Record, error) { return store.ReadStreams(ctx, []string{stream}) },
			"ReadStreamUntil": func() ([]eventstore.Record, error) { return store.ReadStreamUntil(ctx, stream, 3) },
		}
		for name, read := range reads {
			_, err := read()
			var corrupt *eventstore.CorruptEventError
			if !errors.As(err, &corrupt) || corrupt.Position != 2 || corrupt.Field != tt.column {
				t.Errorf("%s with %s %q: err = %v, want a CorruptEventError at position 2 naming %s", name, tt.column, tt.value, err, tt.column)
			}
		}
		if records, err := store.ReadStored(ctx, 2, 10); err != nil || len(records) != 1 {
			t.Errorf("reading past the corrupt event: %d records, %v", len(records), err)
		}
		rep, err := eventstore.VerifyLog(ctx, store, nil)
		if err != nil || rep.Count == 0 || rep.List[0].Kind != eventstore.ProblemHashMismatch || rep.List[0].Position != 2 {
			t.Errorf("VerifyLog with %s %q = %+v, %v; want a hash mismatch at 2", tt.column, tt.value, rep, err)
		}
	}
}

// testNullOrMalformedHashesAreBreaksNeverRewritten edits an event and sets
// its hash to NULL, and another's to text that is no hash, as a forger who
// wants the next open to re-chain them would: opening the store and
// appending rewrites neither, and VerifyLog names both as malformed.
func (s suite) testNullOrMalformedHashesAreBreaksNeverRewritten(t *testing.T) {
	if s.features.SetColumn == nil {
		t.Skip("the engine's factory cannot change stored events")
	}
	store, db := s.open(t, Options{})
	ctx := context.Background()
	for range 4 {
		if _, err := store.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	edited, notAHash := `{"theater_name":"XYZ","user_id":"u","movie_title":"m","price_krw":1,"memo":null}`, "not-a-hash"
	s.features.SetColumn(t, db, 2, "data", &edited)
	s.features.SetColumn(t, db, 2, "hash", nil)
	s.features.SetColumn(t, db, 3, "hash", &notAHash)
	for range 2 {
		reopened, err := s.factory.Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reopened.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
		reopened.Close()
	}
	rep, err := eventstore.VerifyLog(ctx, s.reopen(t, db, Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	malformed := map[int64]bool{}
	for _, p := range rep.List {
		if p.Kind == eventstore.ProblemMalformedHash {
			malformed[p.Position] = true
		}
	}
	if !malformed[2] || !malformed[3] || len(malformed) != 2 {
		t.Fatalf("malformed hashes reported at %v, want positions 2 and 3: %+v", malformed, rep.List)
	}
}

// requireBrokenHead requires that store refuses appends, and CheckHead
// fails, with a *eventstore.BrokenHeadError at position that users see as
// CodeUnavailable, and that the log still reads as the want events.
func requireBrokenHead(t *testing.T, store eventstore.Store, position int64, want int) {
	t.Helper()
	ctx := context.Background()
	for _, check := range []struct {
		name string
		err  error
	}{
		{"an append", appendErr(store.Append(ctx, IssueRequest(NewStream())))},
		{"an append of no events", appendErr(store.Append(ctx, eventstore.AppendRequest{Idempotency: &eventstore.IdempotencyRecord{Key: NewStream(), Endpoint: "issue", Body: []byte("{}")}}))},
		{"CheckHead", store.CheckHead(ctx)},
	} {
		var broken *eventstore.BrokenHeadError
		if !errors.As(check.err, &broken) || broken.Position != position || domain.ErrorCode(check.err) != domain.CodeUnavailable ||
			!strings.Contains(check.err.Error(), "ticketd verify") {
			t.Fatalf("%s at a broken head: err = %v, want a BrokenHeadError at position %d, unavailable, naming ticketd verify", check.name, check.err, position)
		}
	}
	stored, err := store.ReadStored(ctx, 0, 1000)
	if err != nil || len(stored) != want || len(ReadAll(t, store)) != want {
		t.Fatalf("the log reads %d events (%v), want %d: something was appended after a broken head, or reads stopped", len(stored), err, want)
	}
}

// appendErr is the error of an Append.
func appendErr(_ eventstore.AppendResult, err error) error { return err }

func (s suite) testNothingIsAppendedAfterABrokenHead(t *testing.T) {
	if s.features.SetColumn == nil {
		t.Skip("the engine's factory cannot change stored events")
	}
	store, db := s.open(t, Options{})
	ctx := context.Background()
	for range 3 {
		if _, err := store.Append(ctx, IssueRequest(NewStream())); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.CheckHead(ctx); err != nil {
		t.Fatalf("CheckHead of a sound log: %v", err)
	}
	_, good := store.LogHead()
	store.Close()

	notAHash := strings.ToUpper(good) // hex, but not lowercase: not a hash the chain takes
	for _, bad := range []*string{nil, &notAHash} {
		s.features.SetColumn(t, db, 3, "hash", bad)
		reopened := s.reopen(t, db, Options{})
		requireBrokenHead(t, reopened, 3, 3)
		reopened.Close()
	}

	// Repaired, the log goes on from the head's hash; broken again while a
	// store runs, appends stop again at once.
	s.features.SetColumn(t, db, 3, "hash", &good)
	running := s.reopen(t, db, Options{})
	if err := running.CheckHead(ctx); err != nil {
		t.Fatalf("CheckHead after the repair: %v", err)
	}
	if _, err := running.Append(ctx, IssueRequest(NewStream())); err != nil {
		t.Fatalf("append after the repair: %v", err)
	}
	empty := ""
	s.features.SetColumn(t, db, 4, "hash", &empty)
	requireBrokenHead(t, running, 4, 4)
	rep, err := eventstore.VerifyLog(ctx, running, nil)
	if err != nil || rep.Count != 1 || rep.List[0].Kind != eventstore.ProblemMalformedHash || rep.List[0].Position != 4 {
		t.Fatalf("verify = %+v, %v; want only the malformed hash at position 4", rep, err)
	}
}
