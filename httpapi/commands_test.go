package httpapi

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/internal/app"
)

// Idempotency records as ticketd stored them before this API's answers were
// encoded here (2f06fc2): scope, fingerprint of the parsed command, status
// and body. Databases hold such records for at least a day, so they must
// replay as they did, and new records must be written the same way.
var (
	ticket1, ticket2 = "0193a000-0000-7000-8000-000000000001", "0193a000-0000-7000-8000-000000000002"
	storedIssue      = eventstore.IdempotencyRecord{Key: "issue-key", Endpoint: "POST /tickets/issue", Status: 201,
		Fingerprint: "cbbd009745decf26415f44674103ec1e1f5ca109f7b299303002bf198d54a8b6",
		Body:        []byte(`{"ticket_ids":["` + ticket1 + `","` + ticket2 + `"],"count":2,"summary":{"theater_name":"CGV 강남","movie_title":"영화 제목","price_krw":15000}}`)}
	storedRefund = eventstore.IdempotencyRecord{Key: "refund-key", Endpoint: "POST /tickets/refund", Status: 200,
		Fingerprint: "372e031c88bd23d08a9cb2eb5b63b6ff85a39541b0121a031f30b1e670aa6e2b",
		Body:        []byte(`{"refunded":["` + ticket1 + `"],"already_canceled":[],"not_found":["nope"]}`)}
)

func storedCommands() (domain.IssueTickets, domain.RefundTickets) {
	memo, reason := "VIP석", "고객 요청"
	return domain.IssueTickets{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Quantity: 2, Memo: &memo},
		domain.RefundTickets{TicketIDs: []string{ticket1, "nope"}, Reason: &reason}
}

// mustOpenStore opens a store in t.TempDir(), closed when t ends.
func mustOpenStore(t *testing.T) *sqlite.Store {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func TestIdempotencyRecordsOfEarlierVersionsReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mustOpenStore(t)
	issue, refund := storedCommands()
	issuedBy := func(id string) eventstore.StreamAppend {
		return eventstore.StreamAppend{StreamID: id, Events: []domain.Event{domain.TicketIssued{
			TheaterName: issue.TheaterName, UserID: issue.UserID, MovieTitle: issue.MovieTitle, PriceKRW: issue.PriceKRW, Memo: issue.Memo}}}
	}
	for _, req := range []eventstore.AppendRequest{
		{Streams: []eventstore.StreamAppend{issuedBy(ticket1), issuedBy(ticket2)}, Idempotency: &storedIssue},
		{Streams: []eventstore.StreamAppend{{StreamID: ticket1, ExpectedVersion: 1, Events: []domain.Event{domain.TicketRefunded{Reason: refund.Reason}}}}, Idempotency: &storedRefund},
	} {
		if _, err := store.Append(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	commands := app.New(store, nil)
	issued, err := commands.Issue(ctx, app.Request{IdempotencyKey: storedIssue.Key}, issue, issueAnswers)
	if err != nil || !issued.Replayed || string(issued.Answer.Body) != string(storedIssue.Body) {
		t.Errorf("retried issue = %+v (%s), %v; want the stored answer replayed", issued.Reply, issued.Answer.Body, err)
	}
	refunded, err := commands.Refund(ctx, app.Request{IdempotencyKey: storedRefund.Key}, refund, refundAnswers)
	if err != nil || !refunded.Replayed || string(refunded.Answer.Body) != string(storedRefund.Body) {
		t.Errorf("retried refund = %+v (%s), %v; want the stored answer replayed", refunded.Reply, refunded.Answer.Body, err)
	}
	if store.Head() != 3 {
		t.Fatalf("the retries appended: head %d, want 3", store.Head())
	}
}

func TestIdempotencyRecordsAreWrittenAsEarlierVersionsWroteThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mustOpenStore(t)
	ids := []uuid.UUID{uuid.MustParse(ticket1), uuid.MustParse(ticket2)}
	commands := app.New(store, func() uuid.UUID { id := ids[0]; ids = ids[1:]; return id })
	issue, refund := storedCommands()
	if _, err := commands.Issue(ctx, app.Request{IdempotencyKey: storedIssue.Key}, issue, issueAnswers); err != nil {
		t.Fatal(err)
	}
	if _, err := commands.Refund(ctx, app.Request{IdempotencyKey: storedRefund.Key}, refund, refundAnswers); err != nil {
		t.Fatal(err)
	}
	for _, want := range []eventstore.IdempotencyRecord{storedIssue, storedRefund} {
		got, found, err := store.LookupIdempotency(ctx, want.Key)
		if err != nil || !found || got.Endpoint != want.Endpoint || got.Fingerprint != want.Fingerprint || got.Status != want.Status || string(got.Body) != string(want.Body) {
			t.Errorf("stored under %q: %+v (%s), found %t, %v\nwant %+v (%s)", want.Key, got, got.Body, found, err, want, want.Body)
		}
	}
}
