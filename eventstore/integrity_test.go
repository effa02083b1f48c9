package eventstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
)

// openWithCorruptEvent returns a store of three events over a file whose
// event at position 2 had column set to value behind the store's back (then
// reopened, so nothing of it is held in memory).
func openWithCorruptEvent(t *testing.T, column, value string) (*eventstore.Store, string) {
	t.Helper()
	s, path := MustOpenStore(t, eventstore.Options{})
	stream := newStream()
	for _, req := range []eventstore.AppendRequest{issueReq(newStream()), issueReq(stream), refundReq(stream, 1)} {
		if _, err := s.Append(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET `+column+` = ? WHERE position = 2`, value); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = eventstore.Open(path, eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, stream
}

func TestReadsOfACorruptEventFailNamingItsPosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct{ column, value string }{
		{"data", `{"theater_name": "CGV`}, {"data", `[1, 2]`}, {"data", ``}, {"data", ` `}, {"metadata", `null`}, {"metadata", `{"request_id":}`},
	} {
		s, stream := openWithCorruptEvent(t, tt.column, tt.value)
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
		if records, err := s.ReadStored(ctx, 2, 10); err != nil || len(records) != 1 {
			t.Errorf("reading past the corrupt event: %d records, %v", len(records), err)
		}
		rep, err := s.VerifyLog(ctx, nil)
		if err != nil || rep.Count == 0 || rep.List[0].Kind != eventstore.ProblemHashMismatch || rep.List[0].Position != 2 {
			t.Errorf("VerifyLog with %s %q = %+v, %v; want a hash mismatch at 2", tt.column, tt.value, rep, err)
		}
	}
}

func TestCheckHeadsFindsEverySavedHeadTheLogLost(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	genesis := eventstore.SavedHead{Position: 0, Hash: eventstore.GenesisHash}
	if ps, err := s.CheckHeads(context.Background(), []eventstore.SavedHead{genesis}); err != nil || ps.Count != 0 {
		t.Fatalf("an empty log holds the genesis head: %+v, %v", ps, err)
	}
	if _, err := s.Append(context.Background(), issueReq(newStream(), newStream())); err != nil {
		t.Fatal(err)
	}
	pos, hash := s.LogHead()
	if pos != 2 || hash != s.LastHash() {
		t.Fatalf("LogHead = %d %s, want 2 and the last hash %s", pos, hash, s.LastHash())
	}
	heads := []eventstore.SavedHead{genesis, {Position: pos, Hash: hash},
		{Position: 3, Hash: hash}, {Position: 1, Hash: hash}, {Position: 0, Hash: hash}}
	ps, err := s.CheckHeads(context.Background(), heads)
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
