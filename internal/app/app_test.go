package app_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/app/apptest"
)

func TestDefaultTicketIDsAreDistinctUUIDv7(t *testing.T) {
	t.Parallel()
	commands := app.New(apptest.SQLite.Open(t), nil)
	out, err := commands.Issue(context.Background(), plain, issueOf(10), apptest.Answers[app.Issued]("issue"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range out.Result.TicketIDs {
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || seen[id] || !domain.IsTicketID(id) {
			t.Fatalf("ticket id %q: version %d, parse error %v, repeated %t; want distinct canonical UUIDv7s", id, u.Version(), err, seen[id])
		}
		seen[id] = true
	}
}

// Twenty clients refunding one ticket at once, racing for real: one of them
// refunds it, whatever the interleaving.
func TestConcurrentRefundsOfOneTicketRefundItOnce(t *testing.T) {
	t.Parallel()
	store := apptest.SQLite.Open(t)
	commands := app.New(store, nil)
	ctx := context.Background()
	issued, err := commands.Issue(ctx, plain, issueOf(1), apptest.Answers[app.Issued]("issue"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refunded := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := commands.Refund(ctx, plain, refund(issued.Result.TicketIDs...), apptest.Answers[domain.RefundDecision]("refund"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			refunded += len(out.Result.Refunded)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if refunded != 1 || store.Head() != 2 {
		t.Fatalf("%d refunds reported, head %d; want 1 and 2", refunded, store.Head())
	}
}

func TestRefundTellsOnRefundReadEveryExistingTicketItRead(t *testing.T) {
	t.Parallel()
	store := apptest.SQLite.Open(t)
	commands := app.New(store, nil)
	var mu sync.Mutex
	read, issuedAt := map[string]domain.Ticket{}, map[string]int64{}
	commands.OnRefundRead(func(tk domain.Ticket, issuePosition int64) {
		mu.Lock()
		defer mu.Unlock()
		read[tk.ID], issuedAt[tk.ID] = tk, issuePosition
	})
	ctx := context.Background()
	issued, err := commands.Issue(ctx, plain, issueOf(2), apptest.Answers[app.Issued]("issue"))
	if err != nil {
		t.Fatal(err)
	}
	ids := issued.Result.TicketIDs
	if _, err := commands.Refund(ctx, plain, refund(ids[0], domaintest.Unknown), apptest.Answers[domain.RefundDecision]("refund")); err != nil {
		t.Fatal(err)
	}
	want := domain.Ticket{ID: ids[0], TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Status: domain.StatusIssued, Memo: domaintest.Sold.Memo, Version: 1}
	got := read[ids[0]]
	got.IssuedAt = time.Time{}
	if len(read) != 1 || !reflect.DeepEqual(got, want) {
		t.Fatalf("told %+v; want only %+v (as read before the refund)", read, want)
	}
	stream, err := store.ReadStream(ctx, ids[0])
	if err != nil || issuedAt[ids[0]] != stream[0].Position {
		t.Fatalf("told issue position %d; want %d, the position of its TicketIssued (%v)", issuedAt[ids[0]], stream[0].Position, err)
	}
	if _, err := commands.Refund(ctx, plain, refund(ids[0]), apptest.Answers[domain.RefundDecision]("refund")); err != nil {
		t.Fatal(err)
	}
	if tk := read[ids[0]]; tk.Status != domain.StatusCanceled || tk.Version != 2 || issuedAt[ids[0]] != stream[0].Position {
		t.Fatalf("a second refund told %+v issued at %d; want the canceled ticket at version 2 issued at %d", tk, issuedAt[ids[0]], stream[0].Position)
	}
}
