package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/app"
)

func mustOpen(t *testing.T) (*sqlite.Store, *app.Commands) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, app.New(s, nil)
}

func issueCmd(quantity int64) domain.IssueTickets {
	return domain.IssueTickets{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Quantity: quantity}
}

func ticketIDs(t *testing.T, res app.Result) []string {
	t.Helper()
	var body struct {
		TicketIDs []string `json:"ticket_ids"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.TicketIDs
}

func TestIssueWithAKeyRunsOnceAndReplaysItsAnswer(t *testing.T) {
	t.Parallel()
	s, commands := mustOpen(t)
	ctx := context.Background()
	req := app.Request{IdempotencyKey: "k1", RequestID: "r1"}
	first, err := commands.Issue(ctx, req, issueCmd(2))
	if err != nil || first.Status != 201 || first.Replayed || first.Issued != 2 || first.Position != 2 {
		t.Fatalf("first issue = %+v, %v", first, err)
	}
	again, err := commands.Issue(ctx, req, issueCmd(2))
	if err != nil || !again.Replayed || again.Status != 200 || string(again.Body) != string(first.Body) || again.Position != 2 {
		t.Fatalf("retry = %+v, %v; want the stored answer", again, err)
	}
	if s.Head() != 2 {
		t.Fatalf("the retry appended: head %d", s.Head())
	}
}

func TestAReusedKeyIsAConflictMatchingErrKeyReused(t *testing.T) {
	t.Parallel()
	_, commands := mustOpen(t)
	ctx := context.Background()
	req := app.Request{IdempotencyKey: "k1"}
	issued, err := commands.Issue(ctx, req, issueCmd(1))
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() (app.Result, error){
		"other request": func() (app.Result, error) { return commands.Issue(ctx, req, issueCmd(2)) },
		"other endpoint": func() (app.Result, error) {
			return commands.Refund(ctx, req, domain.RefundTickets{TicketIDs: ticketIDs(t, issued)})
		},
	} {
		_, err := run()
		if domain.ErrorCode(err) != domain.CodeConflict || !errors.Is(err, app.ErrKeyReused) {
			t.Errorf("%s: err = %v, want a conflict matching ErrKeyReused", name, err)
		}
	}
}

func TestInvalidCommandsAppendNothing(t *testing.T) {
	t.Parallel()
	s, commands := mustOpen(t)
	ctx := context.Background()
	if _, err := commands.Issue(ctx, app.Request{}, issueCmd(11)); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("issue of 11 = %v, want invalid", err)
	}
	if _, err := commands.Refund(ctx, app.Request{}, domain.RefundTickets{}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("refund of nothing = %v, want invalid", err)
	}
	if s.Head() != 0 {
		t.Fatalf("invalid commands appended: head %d", s.Head())
	}
}

func TestConcurrentRefundsOfOneTicketRefundItOnce(t *testing.T) {
	t.Parallel()
	s, commands := mustOpen(t)
	ctx := context.Background()
	issued, err := commands.Issue(ctx, app.Request{}, issueCmd(1))
	if err != nil {
		t.Fatal(err)
	}
	ids := ticketIDs(t, issued)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refunded := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := commands.Refund(ctx, app.Request{}, domain.RefundTickets{TicketIDs: ids})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			refunded += res.Refunded
			mu.Unlock()
		}()
	}
	wg.Wait()
	if refunded != 1 || s.Head() != 2 {
		t.Fatalf("%d refunds counted, head %d; want 1 and 2", refunded, s.Head())
	}
}

func TestRefundTellsOnRefundReadEveryExistingTicketItRead(t *testing.T) {
	t.Parallel()
	_, commands := mustOpen(t)
	var mu sync.Mutex
	read := map[string]domain.Ticket{}
	commands.OnRefundRead(func(tk domain.Ticket) {
		mu.Lock()
		defer mu.Unlock()
		read[tk.ID] = tk
	})
	ctx := context.Background()
	issued, err := commands.Issue(ctx, app.Request{}, issueCmd(2))
	if err != nil {
		t.Fatal(err)
	}
	ids := ticketIDs(t, issued)
	missing := "0190a000-0000-7000-8000-000000000000"
	if _, err := commands.Refund(ctx, app.Request{}, domain.RefundTickets{TicketIDs: []string{ids[0], missing}}); err != nil {
		t.Fatal(err)
	}
	want := domain.Ticket{ID: ids[0], TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Status: domain.StatusIssued, Version: 1}
	got := read[ids[0]]
	got.IssuedAt = time.Time{}
	if len(read) != 1 || got != want {
		t.Fatalf("told %+v; want only %+v (as read before the refund)", read, want)
	}
	if _, err := commands.Refund(ctx, app.Request{}, domain.RefundTickets{TicketIDs: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	if tk := read[ids[0]]; tk.Status != domain.StatusCanceled || tk.Version != 2 {
		t.Fatalf("a second refund told %+v; want the canceled ticket at version 2", tk)
	}
}
