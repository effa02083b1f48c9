package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/eventstore/postgres"
)

// Derived state commits without waiting for the WAL to reach the disk,
// while the log's appends and every other write wait for it.
func TestDerivedCommitsAloneSkipTheWALFlush(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t, postgres.Options{})
	ctx := context.Background()
	setting := func(tx pgx.Tx) string {
		t.Helper()
		var v string
		if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var derived string
	if err := s.UpdateDerived(ctx, func(tx pgx.Tx) error { derived = setting(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if derived != "off" {
		t.Errorf("synchronous_commit in UpdateDerived = %q, want off", derived)
	}
	var after string
	if err := s.ReadSnapshot(ctx, func(tx pgx.Tx) error { after = setting(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if after != "on" {
		t.Errorf("synchronous_commit after UpdateDerived = %q, want on: SET LOCAL must end with its transaction", after)
	}
}
