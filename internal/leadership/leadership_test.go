package leadership_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/internal/leadership"
	"github.com/ticketd/ticketd/internal/pgtest"
)

// candidate is one Run on a store of its own, recording what it does.
type candidate struct {
	lease     eventstore.Lease
	leading   atomic.Bool  // between OnChange(true) and OnChange(false)
	elected   atomic.Int64 // calls of OnChange(true)
	leads     atomic.Int64
	term      atomic.Int64 // the term of the last lead
	following atomic.Bool  // inside follow
	stop      context.CancelFunc
	done      chan struct{}
}

// campaign starts a candidate named name on the database db names, with a
// lease of length, trying it every 20ms.
func campaign(t *testing.T, db string, name string, length time.Duration) *candidate {
	t.Helper()
	store, err := postgres.Open(context.Background(), db, postgres.Options{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lease, err := store.LeaderLease(eventstore.LeaseOptions{Holder: name, Length: length})
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{lease: lease, done: make(chan struct{})}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	cfg := leadership.Config{Lease: lease, Poll: 20 * time.Millisecond, Length: length, Instance: name,
		OnChange: func(leading bool) {
			if leading {
				c.elected.Add(1)
			}
			c.leading.Store(leading)
		}}
	go func() {
		defer close(c.done)
		leadership.Run(ctx, cfg,
			func(ctx context.Context) {
				// A lease lost at once may end the term (OnChange(false))
				// before lead starts; lead still never starts before the
				// OnChange(true) of its term.
				if n := c.leads.Add(1); c.elected.Load() < n {
					t.Errorf("%s leads for the %d. time after %d calls of OnChange(true)", name, n, c.elected.Load())
				}
				c.term.Store(lease.Term())
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
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOneCandidateLeadsAndAnotherTakesOverWhenItStopsOrLosesItsLease(t *testing.T) {
	t.Parallel()
	db := pgtest.FreshDatabase(t)
	cs := []*candidate{campaign(t, db, "a", time.Minute), campaign(t, db, "b", time.Minute), campaign(t, db, "c", time.Minute)}
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
	// Cut off from its lease (its lease connection ended), the leader stops
	// leading and follows, and another takes the lease over at once rather
	// than at its expiry a minute later.
	if n := pgtest.TerminateLeader(t, db, "public"); n != 1 {
		t.Fatalf("terminated %d holders, want 1", n)
	}
	waitFor(t, "a leader again after the lease connection was lost", func() bool {
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

// A leader that hangs (its connections to the database stop carrying bytes
// without breaking, as over a partition that keeps TCP keepalives
// answered, so the server still sees its sessions) stops leading once it
// cannot renew, and another candidate leads in the next term within the
// lease's length and a poll.
func TestAHungLeaderIsReplacedInTheNextTerm(t *testing.T) {
	t.Parallel()
	db := pgtest.FreshDatabase(t)
	const length = time.Second
	proxied, freeze := pgtest.FreezingProxy(t, db)
	hung := campaign(t, proxied, "hung", length)
	waitFor(t, "the first candidate leads", hung.leading.Load)
	others := []*candidate{campaign(t, db, "b", length), campaign(t, db, "c", length)}
	waitFor(t, "the others follow", func() bool { return others[0].following.Load() && others[1].following.Load() })
	term := hung.term.Load()
	froze := time.Now()
	freeze()
	deadline := froze.Add(length + 2*time.Second) // a poll, and slack for a loaded machine
	for !others[0].leading.Load() && !others[1].leading.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("no other candidate leads %s after the leader hung; lease %s", time.Since(froze), length)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("another candidate leads %s after the leader hung", time.Since(froze).Round(time.Millisecond))
	waitFor(t, "the hung leader stops leading", func() bool { return !hung.leading.Load() })
	next := others[0]
	if others[1].leading.Load() {
		next = others[1]
	}
	waitFor(t, "the new leader's term is recorded", func() bool { return next.term.Load() != 0 })
	if got := next.term.Load(); got <= term {
		t.Fatalf("the new leader's term %d is not past the hung one's %d", got, term)
	}
}
