package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
)

// TestCreateAndDropDatabase creates a database on the test server, opens a
// store on the URL it gives, and drops it with the store still connected:
// its name is then free, and dropping it again is no error.
func TestCreateAndDropDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := serverURL(t)
	name := fmt.Sprintf("ticketd_created_%d", os.Getpid())
	db, err := postgres.CreateDatabase(ctx, server, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { postgres.DropDatabase(ctx, server, name) })
	if _, err := postgres.CreateDatabase(ctx, server, name); err == nil {
		t.Fatal("a second CreateDatabase of the same name succeeded")
	}
	store, err := postgres.Open(ctx, db, postgres.Options{Shared: true})
	if err != nil {
		t.Fatalf("open the created database: %v", err)
	}
	defer store.Close()
	for range 2 {
		if err := postgres.DropDatabase(ctx, server, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := postgres.Open(ctx, db, postgres.Options{ReadOnly: true}); err == nil || errors.Is(err, eventstore.ErrNoDatabase) {
		t.Fatalf("open of a dropped database = %v, want a connection error", err)
	}
}
