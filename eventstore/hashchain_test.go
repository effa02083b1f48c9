package eventstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// TestComputeHashMatchesTheDocumentedEncoding pins the canonical encoding:
// changing it would make every stored log fail verification.
func TestComputeHashMatchesTheDocumentedEncoding(t *testing.T) {
	r := eventstore.Record{
		Position: 1, ID: "01a214a4-6854-7c5c-a6b0-f4758a5dcca7", StreamID: "01a214a4-6854-7c62-b997-a8fb58c3b723", Version: 1,
		Type: "TicketIssued", OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
		Data:     []byte(`{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"memo":null}`),
		Metadata: []byte(`{"request_id":"r1","correlation_id":"r1"}`),
		PrevHash: eventstore.GenesisHash,
	}
	got := r.ComputeHash()
	if len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not 64 lowercase hex digits", got)
	}
	if got != goldenHash {
		t.Fatalf("ComputeHash = %s, want %s (the documented encoding changed?)", got, goldenHash)
	}
	for name, change := range map[string]func(*eventstore.Record){
		"position":    func(r *eventstore.Record) { r.Position = 2 },
		"id":          func(r *eventstore.Record) { r.ID = "x" },
		"stream":      func(r *eventstore.Record) { r.StreamID = "x" },
		"version":     func(r *eventstore.Record) { r.Version = 2 },
		"type":        func(r *eventstore.Record) { r.Type = "TicketRefunded" },
		"occurred_at": func(r *eventstore.Record) { r.OccurredAt = r.OccurredAt.Add(time.Microsecond) },
		"data":        func(r *eventstore.Record) { r.Data = bytes.Replace(r.Data, []byte("15000"), []byte("15001"), 1) },
		"metadata":    func(r *eventstore.Record) { r.Metadata = []byte(`{}`) },
		"prev_hash":   func(r *eventstore.Record) { r.PrevHash = strings.Repeat("1", 64) },
		// Field boundaries are length-prefixed: moving a byte between fields changes the hash.
		"boundary": func(r *eventstore.Record) { r.ID, r.StreamID = r.ID+"0", r.StreamID[1:] },
	} {
		changed := r
		change(&changed)
		if changed.ComputeHash() == got {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

// goldenHash is the hash of the record in the test above, computed
// independently from the documented encoding (docs/AUDIT.md shows how).
const goldenHash = "cb74ce443e1d22074d4e67c2e52f61d069807786bb97485b5d6defb92287c445"

func TestAppendsChainFromGenesis(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
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
	prev := eventstore.GenesisHash
	for _, r := range records {
		if r.PrevHash != prev || r.Hash != r.ComputeHash() {
			t.Fatalf("event %d: prev_hash %s hash %s; want prev %s and hash %s", r.Position, r.PrevHash, r.Hash, prev, r.ComputeHash())
		}
		prev = r.Hash
	}
	if s.LastHash() != prev {
		t.Fatalf("LastHash = %s, want %s", s.LastHash(), prev)
	}
	rep, err := s.VerifyLog(ctx, nil)
	if err != nil || rep.Count != 0 || rep.Events != 3 || rep.Streams != 2 || rep.LastHash != prev {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

func TestFailedAppendsInAGroupKeepTheChainExact(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	a := newStream()
	if _, err := s.Append(ctx, issueReq(a)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 60)
	for i := 0; i < 60; i++ {
		go func(i int) {
			var err error
			if i%3 == 0 {
				_, err = s.Append(ctx, refundReq(a, 7)) // always conflicts
			} else {
				_, err = s.Append(ctx, issueReq(newStream()))
			}
			done <- err
		}(i)
	}
	for i := 0; i < 60; i++ {
		<-done
	}
	rep, err := s.VerifyLog(ctx, nil)
	if err != nil || rep.Count != 0 || rep.Events != 41 {
		t.Fatalf("verify after mixed group = %+v, %v", rep, err)
	}
}

// TestOpenMigratesAPreChainLogOnce opens a genuine log from before the hash
// chain: its one explicit migration chains every event, is recorded as a
// schema version and runs once; the second open migrates nothing.
func TestOpenMigratesAPreChainLogOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	// The events table as the first ticketd release wrote it.
	_, err = db.Exec(`CREATE TABLE events (
		position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
		version INTEGER NOT NULL CHECK (version >= 1), type TEXT NOT NULL, data TEXT NOT NULL,
		metadata TEXT NOT NULL, occurred_at TEXT NOT NULL, UNIQUE (stream_id, version));
	INSERT INTO events VALUES
		(1, 'e1', 's1', 1, 'TicketIssued', '{"theater_name":"CGV","user_id":"u","movie_title":"m","price_krw":1,"memo":null}', '{}', '2026-11-25T10:00:00.000000Z'),
		(2, 'e2', 's1', 2, 'TicketRefunded', '{"reason":null}', '{}', '2026-11-25T10:00:01.000000Z');`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := eventstore.Open(path, eventstore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "version=2") || !strings.Contains(logs.String(), "hash chain") {
		t.Fatalf("no log line of the hash chain migration:\n%s", logs.String())
	}
	rep, err := s.VerifyLog(context.Background(), nil)
	if err != nil || rep.Count != 0 || rep.Events != 2 {
		t.Fatalf("verify after migration = %+v, %v", rep, err)
	}
	if _, err := s.Append(context.Background(), refundReq("s1", 2)); err != nil {
		t.Fatal(err)
	}
	if rep, _ := s.VerifyLog(context.Background(), nil); rep.Count != 0 || rep.Events != 3 {
		t.Fatalf("verify after appending to a migrated log = %+v", rep)
	}
	s.Close()

	logs.Reset()
	s, err = eventstore.Open(path, eventstore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Contains(logs.String(), "migration") {
		t.Fatalf("second open migrated again:\n%s", logs.String())
	}
	var versions string
	if err := s.ReadDB().QueryRow(`SELECT group_concat(version, ',') FROM (SELECT version FROM schema_migrations ORDER BY version)`).Scan(&versions); err != nil || versions != "1,2" {
		t.Fatalf("schema_migrations = %q, %v; want versions 1,2", versions, err)
	}
}

// TestNullOrMalformedHashesAreBreaksNeverRewritten sets the hash of edited
// events to NULL or to text that is no hash, as a forger who wants the next
// start to re-chain them would, and checks that opening the store (as serve,
// replay and import do) rewrites nothing and that VerifyLog names each
// position as a malformed hash.
func TestNullOrMalformedHashesAreBreaksNeverRewritten(t *testing.T) {
	t.Parallel()
	s, path := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	for range 4 {
		if _, err := s.Append(ctx, issueReq(newStream())); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`UPDATE events SET data = replace(data, 'CGV', 'XYZ'), hash = NULL WHERE position = 2;
		UPDATE events SET hash = 'not-a-hash' WHERE position = 3`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := eventstore.Open(path, eventstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, issueReq(newStream())); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	s, err = eventstore.Open(path, eventstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var nulls int
	if err := s.ReadDB().QueryRow(`SELECT COUNT(*) FROM events WHERE hash IS NULL AND position = 2`).Scan(&nulls); err != nil || nulls != 1 {
		t.Fatalf("the NULL hash of position 2 was rewritten (%d NULL, %v)", nulls, err)
	}
	rep, err := s.VerifyLog(ctx, nil)
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

func TestImportRefusesRecordsThatBreakTheChain(t *testing.T) {
	t.Parallel()
	src, _ := MustOpenStore(t, eventstore.Options{})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := src.Append(ctx, issueReq(newStream())); err != nil {
			t.Fatal(err)
		}
	}
	records := readAll(t, src)
	tampered := append([]eventstore.Record(nil), records...)
	tampered[1].Data = []byte(`{"theater_name":"X","user_id":"u","movie_title":"m","price_krw":1,"memo":null}`)
	dst, _ := MustOpenStore(t, eventstore.Options{})
	if err := dst.Import(ctx, tampered); err == nil || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("tampered import: %v", err)
	}
	if dst.Head() != 0 {
		t.Fatalf("a refused import left %d events", dst.Head())
	}
	if err := dst.Import(ctx, records[1:]); err == nil {
		t.Fatal("import that skips position 1 accepted")
	}
	if err := dst.Import(ctx, records); err != nil {
		t.Fatal(err)
	}
	if dst.LastHash() != src.LastHash() || dst.Head() != 3 {
		t.Fatalf("imported tip %d %s, want 3 %s", dst.Head(), dst.LastHash(), src.LastHash())
	}
}
