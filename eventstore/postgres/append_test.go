package postgres_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
)

// An append of no events (a command that changed nothing, such as a refund
// of refunded tickets) still stores its idempotency record.
func TestAppendOfNoEventsStoresItsIdempotencyRecord(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	req := eventstore.AppendRequest{Idempotency: &eventstore.IdempotencyRecord{
		Key: "k-noop", Endpoint: "/tickets/refund", Fingerprint: "f", Status: 200, Body: []byte(`{}`)}}
	if _, err := s.Append(ctx, req); err != nil {
		t.Fatalf("append of no events: %v", err)
	}
	rec, found, err := s.LookupIdempotency(ctx, "k-noop")
	if err != nil || !found || rec.Status != 200 || string(rec.Body) != `{}` {
		t.Fatalf("record = %+v, found %v, %v", rec, found, err)
	}
	if s.Head() != 0 {
		t.Errorf("head = %d, want 0", s.Head())
	}
}
