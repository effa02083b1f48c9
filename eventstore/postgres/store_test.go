package postgres_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore/postgres"
)

func TestCheckpointsAreStoredAndOverwritten(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	if pos, err := s.Checkpoint(ctx, "relay"); err != nil || pos != 0 {
		t.Fatalf("missing checkpoint = %d, %v", pos, err)
	}
	for _, pos := range []int64{7, 9} {
		if err := s.SaveCheckpoint(ctx, "relay", pos); err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := s.Checkpoint(ctx, "relay"); err != nil || pos != 9 {
		t.Fatalf("checkpoint = %d, %v", pos, err)
	}
}
