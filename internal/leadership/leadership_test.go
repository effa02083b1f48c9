package leadership_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/internal/leadership"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// candidate is one Run on a store of its own, recording what it does.
type candidate struct {
	leading   atomic.Bool // between OnChange(true) and OnChange(false)
	leads     atomic.Int64
	following atomic.Bool // inside follow
	stop      context.CancelFunc
	done      chan struct{}
}

func campaign(t *testing.T, db string, name string) *candidate {
	t.Helper()
	store, err := postgres.Open(context.Background(), db, postgres.Options{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lock, err := store.LeaderLock()
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{done: make(chan struct{})}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	cfg := leadership.Config{Lock: lock, Poll: 20 * time.Millisecond, Instance: name,
		OnChange: func(leading bool) { c.leading.Store(leading) }}
	go func() {
		defer close(c.done)
		leadership.Run(ctx, cfg,
			func(ctx context.Context) {
				c.leads.Add(1)
				if !c.leading.Load() {
					t.Errorf("%s leads before OnChange(true)", name)
				}
				<-ctx.Done()
			},
			func(ctx context.Context) {
				c.following.Store(true)
				<-ctx.Done()
				c.following.Store(false)
			})
	}()
	t.Cleanup(func() { stop(); <-c.done })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOneCandidateLeadsAndAnotherTakesOverWhenItStopsOrLosesTheLock(t *testing.T) {
	t.Parallel()
	db := pgtest.FreshDatabase(t)
	cs := []*candidate{campaign(t, db, "a"), campaign(t, db, "b"), campaign(t, db, "c")}
	soleLeader := func() int { // -1: none, -2: several
		leader := -1
		for i, c := range cs {
			if c.leading.Load() {
				if leader >= 0 {
					return -2
				}
				leader = i
			}
		}
		return leader
	}
	var first int
	waitFor(t, "exactly one leads, the others follow", func() bool {
		first = soleLeader()
		if first < 0 {
			return false
		}
		for i, c := range cs {
			if i != first && !c.following.Load() {
				return false
			}
		}
		return !cs[first].following.Load()
	})
	// Cut off from its lock, the leader stops leading and follows.
	if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
		t.Fatalf("terminated %d holders, want 1", n)
	}
	waitFor(t, "a leader again after the lock was lost", func() bool {
		return soleLeader() >= 0 && cs[first].leads.Load()+cs[(first+1)%3].leads.Load()+cs[(first+2)%3].leads.Load() >= 2
	})
	// Stopped, the leader hands over at once.
	second := soleLeader()
	cs[second].stop()
	<-cs[second].done
	if cs[second].leading.Load() || cs[second].following.Load() {
		t.Fatal("a stopped candidate still leads or follows")
	}
	waitFor(t, "another leads after the leader stopped", func() bool {
		l := soleLeader()
		return l >= 0 && l != second
	})
}
