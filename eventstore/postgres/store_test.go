package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

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

// Derived-state transactions commit without waiting for their WAL flush, and
// the setting stays in them: every other transaction on the pool, the
// writer's group commits included, keeps synchronous_commit=on.
func TestDerivedCommitsSkipTheFlushAndOnlyThey(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	setting := func(tx pgx.Tx) string {
		var v string
		if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 3 { // the pool's connections take turns
		if err := s.UpdateDerived(ctx, func(tx pgx.Tx) error {
			if v := setting(tx); v != "off" {
				t.Errorf("synchronous_commit in a derived transaction = %s, want off", v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReadSnapshot(ctx, func(tx pgx.Tx) error {
			if v := setting(tx); v != "on" {
				t.Errorf("synchronous_commit after a derived transaction = %s, want on", v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
