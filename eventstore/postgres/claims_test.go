package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// Two stores on one database, each with its own pool and writer, decide
// claims and reservations of one counter exactly: 256 concurrent appends,
// half claiming one and half reserving one of a counter of limit 100, commit
// exactly 100; the others fail with a LimitError at 100.
func TestClaimsAcrossTwoStoresNeverPassTheLimit(t *testing.T) {
	t.Parallel()
	db := freshDatabase(t)
	stores := []*postgres.Store{mustOpen(t, db, postgres.Options{Shared: true}), mustOpen(t, db, postgres.Options{Shared: true})}
	const callers, limit = 256, 100
	claim := eventstore.Claim{Counter: "hot", Limit: limit, Amount: 1}
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := storetest.ClaimRequest(claim)
			if i%2 == 1 {
				req.Claims = nil
				req.Reserve = []eventstore.Reservation{{ID: fmt.Sprint("r", i), ExpiresAt: time.Now().Add(time.Hour), Claims: []eventstore.Claim{claim}}}
			}
			<-start
			_, err := stores[i%2].Append(context.Background(), req)
			var le *eventstore.LimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &le) && *le == eventstore.LimitError{Counter: "hot", Limit: limit, Used: limit}:
				refused.Add(1)
			default:
				t.Errorf("append: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != limit || refused.Load() != callers-limit {
		t.Fatalf("committed %d, refused %d; want %d, %d", ok.Load(), refused.Load(), limit, callers-limit)
	}
	records := storetest.ReadAll(t, stores[0])
	if len(records) != limit {
		t.Fatalf("%d events in the log, want %d", len(records), limit)
	}
	storetest.AssertLogInvariants(t, records)
	if rep, err := eventstore.VerifyLog(context.Background(), stores[1], nil); err != nil || rep.Count != 0 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}
