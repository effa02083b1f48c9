package projections_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// mustOpenStore opens an event store in a fresh temporary folder, closed
// at the end of the test.
func mustOpenStore(tb testing.TB) *eventstore.Store {
	tb.Helper()
	s, err := eventstore.Open(filepath.Join(tb.TempDir(), "app.db"), eventstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustOpen(tb testing.TB) (*eventstore.Store, *projections.Tickets) {
	tb.Helper()
	s := mustOpenStore(tb)
	tickets, err := projections.OpenTickets(context.Background(), s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, tickets
}

func memo(s string) *string { return &s }

// issue appends one TicketIssued per theater and returns the new ids.
func issue(tb testing.TB, s *eventstore.Store, user string, theaters ...string) []string {
	tb.Helper()
	req := eventstore.AppendRequest{}
	var ids []string
	for _, th := range theaters {
		id := uuid.Must(uuid.NewV7()).String()
		ids = append(ids, id)
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: id, Events: []domain.Event{
			domain.TicketIssued{TheaterName: th, UserID: user, MovieTitle: "영화 제목", PriceKRW: 15000, Memo: memo("VIP석")},
		}})
	}
	if _, err := s.Append(context.Background(), req); err != nil {
		tb.Fatal(err)
	}
	return ids
}

func refund(tb testing.TB, s *eventstore.Store, id string) {
	tb.Helper()
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
		{StreamID: id, ExpectedVersion: 1, Events: []domain.Event{domain.TicketRefunded{Reason: memo("고객 요청")}}},
	}})
	if err != nil {
		tb.Fatal(err)
	}
}

func records(tb testing.TB, s *eventstore.Store) []eventstore.Record {
	tb.Helper()
	recs, err := s.ReadAll(context.Background(), 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

func messageOf(tb testing.TB, r eventstore.Record) *message.Message {
	tb.Helper()
	msg, err := eventstore.NewMessage(r)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

func TestCatchUpBuildsTheTableAndCheckpoint(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ctx := context.Background()
	ids := issue(t, s, "u1", "CGV 강남", "CGV 용산")
	refund(t, s, ids[0])
	n, err := tickets.CatchUp(ctx, nil)
	if err != nil || n != 3 || tickets.Position() != 3 {
		t.Fatalf("catch up: n=%d pos=%d err=%v", n, tickets.Position(), err)
	}
	got, err := tickets.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.StatusCanceled || got.CanceledAt == nil || *got.Memo != "VIP석" || got.Version != 2 {
		t.Fatalf("ticket = %+v", got)
	}
	reopened, err := projections.OpenTickets(ctx, s, nil)
	if err != nil || reopened.Position() != 3 {
		t.Fatalf("checkpoint not stored: %d, %v", reopened.Position(), err)
	}
	if _, err := tickets.Get(ctx, "nope"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("missing ticket: %v", err)
	}
}

func TestHandleIgnoresRedeliveryAndFillsGaps(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ids := issue(t, s, "u1", "a", "b", "c")
	recs := records(t, s)
	// Position 3 arrives first: 1 and 2 are filled from the log.
	if err := tickets.Handle(messageOf(t, recs[2])); err != nil {
		t.Fatal(err)
	}
	if tickets.Position() != 3 {
		t.Fatalf("position = %d after gap fill", tickets.Position())
	}
	// Redelivery of anything at or below the checkpoint is a no-op.
	for _, r := range recs {
		if err := tickets.Handle(messageOf(t, r)); err != nil {
			t.Fatalf("redelivery of %d: %v", r.Position, err)
		}
	}
	page, err := tickets.List(context.Background(), projections.Filter{Limit: 10})
	if err != nil || page.Total != 3 || len(page.Tickets) != 3 || page.Tickets[2].ID != ids[2] {
		t.Fatalf("page = %+v, %v", page, err)
	}
}

func TestHandleAppliesTheNextEventFromItsMessage(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ids := issue(t, s, "u1", "a")
	refund(t, s, ids[0])
	recs := records(t, s)
	for _, r := range recs {
		if err := tickets.Handle(messageOf(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tickets.Get(context.Background(), ids[0])
	if err != nil || got.Status != domain.StatusCanceled {
		t.Fatalf("ticket = %+v, %v", got, err)
	}
}

func TestWaitForReturnsOnceApplied(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	issue(t, s, "u", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tickets.WaitFor(ctx, 1); err == nil {
		t.Fatal("WaitFor returned before the event was applied")
	}
	done := make(chan error, 1)
	go func() { done <- tickets.WaitFor(context.Background(), 1) }()
	if _, err := tickets.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return after catch-up")
	}
}

func TestListFiltersPagesAndCounts(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ctx := context.Background()
	a := issue(t, s, "alice", "CGV 강남", "CGV 강남", "메가박스")
	b := issue(t, s, "bob", "CGV 강남")
	refund(t, s, a[1])
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		f     projections.Filter
		total int64
		ids   []string
	}{
		{"all", projections.Filter{Limit: 100}, 4, []string{a[0], a[1], a[2], b[0]}},
		{"theater", projections.Filter{TheaterName: "CGV 강남", Limit: 100}, 3, []string{a[0], a[1], b[0]}},
		{"user and status", projections.Filter{UserID: "alice", Status: domain.StatusIssued, Limit: 100}, 2, []string{a[0], a[2]}},
		{"canceled", projections.Filter{Status: domain.StatusCanceled, Limit: 100}, 1, []string{a[1]}},
		{"movie", projections.Filter{MovieTitle: "영화 제목", Limit: 2, Offset: 1}, 4, []string{a[1], a[2]}},
		{"past the end", projections.Filter{Limit: 10, Offset: 10}, 4, nil},
		{"no match", projections.Filter{TheaterName: "CGV", Limit: 10}, 0, nil},
		{"sql metacharacters", projections.Filter{TheaterName: "' OR 1=1 --", Limit: 10}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := tickets.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tk := range page.Tickets {
				ids = append(ids, tk.ID)
			}
			if page.Total != tt.total || len(ids) != len(tt.ids) {
				t.Fatalf("total=%d ids=%v, want total=%d ids=%v", page.Total, ids, tt.total, tt.ids)
			}
			for i := range ids {
				if ids[i] != tt.ids[i] {
					t.Fatalf("ids = %v, want %v", ids, tt.ids)
				}
			}
		})
	}
}

func TestRebuildReproducesTheTable(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ctx := context.Background()
	ids := issue(t, s, "u", "a", "b", "c")
	refund(t, s, ids[1])
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := dumpTickets(t, s.ReadDB())
	// Damage the table; a rebuild must restore it from the log alone.
	if err := s.UpdateDerived(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE tickets SET status = 'issued', price_krw = 1`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n, err := projections.RebuildTickets(ctx, s, nil, nil)
	if cp, _ := s.Checkpoint(ctx, projections.TicketsCheckpoint); err != nil || n != 4 || cp != 4 {
		t.Fatalf("rebuild: n=%d checkpoint=%d err=%v", n, cp, err)
	}
	if after := dumpTickets(t, s.ReadDB()); after != before {
		t.Fatalf("rebuilt table differs:\nbefore %s\nafter  %s", before, after)
	}
}

func dumpTickets(tb testing.TB, db *sql.DB) string {
	tb.Helper()
	var dump string
	err := db.QueryRow(`SELECT COALESCE(group_concat(issue_position || '|' || id || '|' || theater_name || '|' || user_id || '|' ||
		movie_title || '|' || price_krw || '|' || status || '|' || COALESCE(memo, '∅') || '|' || issued_at || '|' ||
		COALESCE(canceled_at, '∅') || '|' || version, ';'), '') FROM (SELECT * FROM tickets ORDER BY issue_position)`).Scan(&dump)
	if err != nil {
		tb.Fatal(err)
	}
	return dump
}

func TestGetNeverServesAStaleTicketAfterARefund(t *testing.T) {
	t.Parallel()
	s, tickets := mustOpen(t)
	ctx := context.Background()
	ids := issue(t, s, "u", "a", "b", "c", "d")
	if _, err := tickets.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Readers keep the tickets hot in the cache while the refunds are applied.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, id := range ids {
				if _, err := tickets.Get(ctx, id); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for _, id := range ids {
		refund(t, s, id)
		if _, err := tickets.CatchUp(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := tickets.Get(ctx, id); err != nil || got.Status != domain.StatusCanceled {
			t.Fatalf("right after its refund was applied, ticket %s is %+v (%v)", id, got, err)
		}
	}
	close(stop)
	<-done
}
