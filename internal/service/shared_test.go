package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// TestClusterModeAsksTheStoreForALeadershipLease opens each engine as the
// service does and asks it for what cluster mode needs: a SQLite store has
// no leadership lease, so cluster mode refuses it with an ErrConfig error
// naming --cluster; a PostgreSQL store gives a lease that can be taken.
func TestClusterModeAsksTheStoreForALeadershipLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(t *testing.T, db string, opts DatabaseOptions) eventstore.Store {
		t.Helper()
		store, _, err := OpenDatabase(ctx, db, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store
	}
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		store := open(t, filepath.Join(t.TempDir(), "app.db"), DatabaseOptions{})
		if _, err := asShared(store); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--cluster") {
			t.Fatalf("asShared(SQLite store) = %v, want an ErrConfig error naming --cluster", err)
		}
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		store := open(t, pgtest.FreshDatabase(t), DatabaseOptions{Cluster: true})
		shared, err := asShared(store)
		if err != nil {
			t.Fatal(err)
		}
		lease, err := shared.LeaderLease(eventstore.LeaseOptions{Holder: "test", Length: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer lease.Release(ctx)
		if taken, err := lease.TryAcquire(ctx); !taken || err != nil || lease.Term() != 1 {
			t.Fatalf("TryAcquire = %v, %v, term %d; want the first term", taken, err, lease.Term())
		}
	})
}
