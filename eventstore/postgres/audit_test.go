package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

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
	stream = storetest.NewStream()
	for _, req := range []eventstore.AppendRequest{issueReq(storetest.NewStream()), issueReq(stream), storetest.RefundRequest(stream, 1)} {
		if _, err := s.Append(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	return s, db, stream
}

func TestVerifyLogReportsEveryKindOfTampering(t *testing.T) {
	t.Parallel()
	s, db, _ := seeded(t)
	for range 2 {
		if _, err := s.Append(context.Background(), issueReq(storetest.NewStream())); err != nil {
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
