package postgres_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// TestExportFromSQLiteImportsIntoPostgresAndBackWithIdenticalHashes is the
// migration path between the engines: records read from one log import into
// the other as they are, and the chain verifies with the same hashes.
func TestExportFromSQLiteImportsIntoPostgresAndBackWithIdenticalHashes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lite, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	stream := storetest.NewStream()
	for _, req := range []eventstore.AppendRequest{issueReq(stream, storetest.NewStream()), storetest.RefundRequest(stream, 1)} {
		if _, err := lite.Append(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	exported := storetest.ReadAll(t, lite)
	pg, _ := MustOpenStore(t, postgres.Options{})
	if err := pg.Import(ctx, exported); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Append(ctx, storetest.RefundRequest(stream, 1)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("an append at a version the import passed: %v", err)
	}
	back, err := sqlite.Open(filepath.Join(t.TempDir(), "back.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.Import(ctx, storetest.ReadAll(t, pg)); err != nil {
		t.Fatal(err)
	}
	if pg.LastHash() != lite.LastHash() || back.LastHash() != lite.LastHash() {
		t.Fatalf("tips differ: sqlite %s, postgres %s, back %s", lite.LastHash(), pg.LastHash(), back.LastHash())
	}
	for _, s := range []eventstore.LogScanner{pg, back} {
		if rep, err := eventstore.VerifyLog(ctx, s, nil); err != nil || rep.Count != 0 || rep.Events != 3 {
			t.Fatalf("verify = %+v, %v", rep, err)
		}
	}
}
