package projections

import (
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// issuanceCapacity bounds the tickets a model remembers from refunds'
// decisions (the sales model their issuance, the tickets model their row);
// each is dropped when its refund is applied, so under a refund load it
// holds about the refunds decided and not yet applied.
// rebuildIssuanceCapacity bounds those a rebuild keeps of the tickets it
// folded last (about 150 bytes each): a refund of an older ticket reads its
// stream.
const (
	issuanceCapacity        = 4096
	rebuildIssuanceCapacity = 8192
)

// issuance is what a refund's sales delta needs of its ticket's
// TicketIssued event.
type issuance struct {
	theater, movie string
	priceKRW       int64
}

func issuanceOf(e domain.TicketIssued) issuance {
	return issuance{theater: e.TheaterName, movie: e.MovieTitle, priceKRW: e.PriceKRW}
}

// remembered holds values by ticket id that a fold may need again (the
// issuance of a ticket whose refund may come, the row a refund will
// change), so that the fold need not read them; a ticket it does not hold
// is read from storage. Such a value never goes wrong while it is held:
// entries are taken once used, and a fold checks an entry is the state it
// needs. When full it drops the oldest entry. It is safe for concurrent
// use.
type remembered[V any] struct {
	mu   sync.Mutex
	byID map[string]V
	// order is the ids put, a ring of the map's capacity whose oldest,
	// at next, a new id replaces in the map once full.
	order []string
	next  int
}

// issuances remembers the issuance of tickets.
type issuances = remembered[issuance]

func newRemembered[V any](capacity int) *remembered[V] {
	return &remembered[V]{byID: make(map[string]V, 256), order: make([]string, 0, capacity)}
}

func (c *remembered[V]) put(id string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; !ok {
		if len(c.order) < cap(c.order) {
			c.order = append(c.order, id)
		} else {
			delete(c.byID, c.order[c.next])
			c.order[c.next] = id
			c.next = (c.next + 1) % len(c.order)
		}
	}
	c.byID[id] = v
}

// take returns and forgets the value of ticket id.
func (c *remembered[V]) take(id string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byID[id]
	delete(c.byID, id)
	return v, ok
}
