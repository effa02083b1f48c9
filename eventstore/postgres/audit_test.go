package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
)

func TestAppendsChainFromGenesis(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	if s.LastHash() != eventstore.GenesisHash {
		t.Fatalf("empty log's last hash = %s", s.LastHash())
	}
	a := newStream()
	if _, err := s.Append(ctx, issueReq(a, newStream())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, refundReq(a, 1)); err != nil {
		t.Fatal(err)
	}
	records := readAll(t, s)
	assertLogInvariants(t, records)
	prev := records[len(records)-1].Hash
	if s.LastHash() != prev {
		t.Fatalf("LastHash = %s, want %s", s.LastHash(), prev)
	}
	var progressed int64
	rep, err := eventstore.VerifyLog(ctx, s, func(n int64) { progressed = n })
	if err != nil || rep.Count != 0 || rep.Events != 3 || rep.Streams != 2 || rep.LastHash != prev || progressed != 3 {
		t.Fatalf("verify = %+v (progress %d), %v", rep, progressed, err)
	}
}

// tamper runs sql on s's database behind its back.
func tamper(t *testing.T, db, sql string) {
	t.Helper()
	execOn(t, db, sql)
}

// seeded opens a store on a fresh database holding three events, the last
// two of one stream.
func seeded(t *testing.T) (s *postgres.Store, db, stream string) {
	t.Helper()
	s, db = MustOpenStore(t, postgres.Options{})
	stream = newStream()
	for _, req := range []eventstore.AppendRequest{issueReq(newStream()), issueReq(stream), refundReq(stream, 1)} {
		if _, err := s.Append(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	return s, db, stream
}

func TestReadsOfACorruptEventFailNamingItsPosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct{ column, value string }{
		{"data", `{"theater_name": "CGV`}, {"data", `[1, 2]`}, {"data", ``}, {"metadata", `null`},
	} {
		s, db, stream := seeded(t)
		tamper(t, db, `UPDATE events SET `+tt.column+` = '`+tt.value+`' WHERE position = 2`)
		reads := map[string]func() ([]eventstore.Record, error){
			"ReadAll":         func() ([]eventstore.Record, error) { return s.ReadAll(ctx, 0, 10) },
			"ReadStored":      func() ([]eventstore.Record, error) { return s.ReadStored(ctx, 1, 1) },
			"ReadStream":      func() ([]eventstore.Record, error) { return s.ReadStream(ctx, stream) },
			"ReadStreamUntil": func() ([]eventstore.Record, error) { return s.ReadStreamUntil(ctx, stream, 3) },
		}
		for name, read := range reads {
			_, err := read()
			var corrupt *eventstore.CorruptEventError
			if !errors.As(err, &corrupt) || corrupt.Position != 2 || corrupt.Field != tt.column {
				t.Errorf("%s with %s %q: err = %v, want a CorruptEventError at position 2 naming %s", name, tt.column, tt.value, err, tt.column)
			}
		}
		rep, err := eventstore.VerifyLog(ctx, s, nil)
		if err != nil || rep.Count == 0 || rep.List[0].Kind != eventstore.ProblemHashMismatch || rep.List[0].Position != 2 {
			t.Errorf("VerifyLog with %s %q = %+v, %v; want a hash mismatch at 2", tt.column, tt.value, rep, err)
		}
	}
}

func TestVerifyLogReportsEveryKindOfTampering(t *testing.T) {
	t.Parallel()
	s, db, _ := seeded(t)
	for range 2 {
		if _, err := s.Append(context.Background(), issueReq(newStream())); err != nil {
			t.Fatal(err)
		}
	}
	tamper(t, db, `UPDATE events SET hash = NULL WHERE position = 1;
		DELETE FROM events WHERE position = 3;
		UPDATE events SET data = replace(data, 'CGV', 'XYZ') WHERE position = 4`)
	rep, err := eventstore.VerifyLog(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, p := range rep.List {
		found[p.Kind] = p.Position
	}
	want := map[string]int64{
		eventstore.ProblemMalformedHash: 1, eventstore.ProblemMissingEvents: 3, eventstore.ProblemBrokenLink: 4,
		eventstore.ProblemHashMismatch: 4,
	}
	for kind, pos := range want {
		if got, ok := found[kind]; !ok || got != pos {
			t.Errorf("%s reported at %d (%v), want at %d: %+v", kind, got, ok, pos, rep.List)
		}
	}
	if rep.Events != 4 {
		t.Fatalf("verify counted %d events, want 4", rep.Events)
	}
}

func TestVerifyLogReportsAStreamWhoseVersionsBreak(t *testing.T) {
	t.Parallel()
	s, db, stream := seeded(t)
	tamper(t, db, `UPDATE events SET version = 5 WHERE stream_id = '`+stream+`' AND version = 2`)
	rep, err := eventstore.VerifyLog(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.List[len(rep.List)-1]
	if last.Kind != eventstore.ProblemVersionSequence || last.Position != 3 || last.StreamID != stream || rep.Streams != 2 {
		t.Fatalf("problems = %+v", rep.List)
	}
}

func TestImportRefusesRecordsThatBreakTheChain(t *testing.T) {
	t.Parallel()
	src, _, _ := seeded(t)
	ctx := context.Background()
	records := readAll(t, src)
	tampered := append([]eventstore.Record(nil), records...)
	tampered[1].Data = []byte(`{"theater_name":"X","user_id":"u","movie_title":"m","price_krw":1,"memo":null}`)
	dst, _ := MustOpenStore(t, postgres.Options{})
	if err := dst.Import(ctx, tampered); !errors.Is(err, eventstore.ErrChain) || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("tampered import: %v", err)
	}
	if dst.Head() != 0 || len(readAll(t, dst)) != 0 {
		t.Fatalf("a refused import left %d events", dst.Head())
	}
	if err := dst.Import(ctx, records[1:]); !errors.Is(err, eventstore.ErrChain) {
		t.Fatalf("import that skips position 1: %v", err)
	}
	if err := dst.Import(ctx, records); err != nil {
		t.Fatal(err)
	}
	if dst.LastHash() != src.LastHash() || dst.Head() != 3 {
		t.Fatalf("imported tip %d %s, want 3 %s", dst.Head(), dst.LastHash(), src.LastHash())
	}
	if got := readAll(t, dst); got[2].Hash != records[2].Hash || string(got[1].Data) != string(records[1].Data) {
		t.Fatalf("imported records differ: %+v", got)
	}
	again := append([]eventstore.Record(nil), records[2])
	again[0].Position, again[0].PrevHash = 4, records[2].Hash
	again[0].Hash = again[0].ComputeHash()
	if err := dst.Import(ctx, again); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("import of a version its stream has: %v", err)
	}
}

func TestCheckHeadsFindsEverySavedHeadTheLogLost(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	genesis := eventstore.SavedHead{Position: 0, Hash: eventstore.GenesisHash}
	if ps, err := eventstore.CheckHeads(context.Background(), s, []eventstore.SavedHead{genesis}); err != nil || ps.Count != 0 {
		t.Fatalf("an empty log holds the genesis head: %+v, %v", ps, err)
	}
	if _, err := s.Append(context.Background(), issueReq(newStream(), newStream())); err != nil {
		t.Fatal(err)
	}
	pos, hash := s.LogHead()
	heads := []eventstore.SavedHead{genesis, {Position: pos, Hash: hash},
		{Position: 3, Hash: hash}, {Position: 1, Hash: hash}, {Position: 0, Hash: hash}}
	ps, err := eventstore.CheckHeads(context.Background(), s, heads)
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

func TestCheckWritable(t *testing.T) {
	t.Parallel()
	s, db := MustOpenStore(t, postgres.Options{})
	if err := s.CheckWritable(context.Background()); err != nil {
		t.Fatal(err)
	}
	ro := mustOpen(t, db, postgres.Options{ReadOnly: true})
	if err := ro.CheckWritable(context.Background()); err == nil {
		t.Fatal("a read-only store is writable")
	}
}

func TestVerifyLogIsNotBoundByTheStatementTimeout(t *testing.T) {
	t.Parallel()
	_, db, _ := seeded(t)
	bounded := mustOpen(t, db, postgres.Options{Shared: true, StatementTimeout: 100 * time.Millisecond})
	// Reading the log now sleeps 60ms an event, 180ms in all: longer than
	// the store's bound.
	tamper(t, db, `ALTER TABLE events RENAME TO events_data;
		CREATE VIEW events AS SELECT e.* FROM events_data e WHERE pg_sleep(0.06 + 0 * e.position)::text = ''`)
	ctx := context.Background()
	if _, err := bounded.ReadStored(ctx, 0, 10); domain.ErrorCode(err) != domain.CodeUnavailable || !strings.Contains(err.Error(), "57014") {
		t.Fatalf("a read longer than the statement timeout = %v, want it cancelled", err)
	}
	rep, err := eventstore.VerifyLog(ctx, bounded, nil)
	if err != nil || rep.Count != 0 || rep.Events != 3 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}
