package projections

import (
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// issuanceCapacity bounds the tickets whose issuance the sales model keeps
// in memory; each is dropped when its refund is applied, so under a refund
// load it holds about the refunds decided and not yet applied.
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

// issuances remembers the issuance of tickets whose refund may come (just
// decided, or not yet folded by a rebuild), so the sales of the refund do
// not read the ticket's stream again; a ticket it does not hold is read
// from the log. An issuance
// never changes once committed, so an entry is never wrong, at most no
// longer needed. When full it drops the oldest entry. It is safe for
// concurrent use.
type issuances struct {
	mu   sync.Mutex
	byID map[string]issuance
	// order is the ids put, a ring of the map's capacity whose oldest,
	// at next, a new id replaces in the map once full.
	order []string
	next  int
}

func newIssuances(capacity int) *issuances {
	return &issuances{byID: make(map[string]issuance, 256), order: make([]string, 0, capacity)}
}

func (c *issuances) put(id string, is issuance) {
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
	c.byID[id] = is
}

// take returns and forgets the issuance of ticket id.
func (c *issuances) take(id string) (issuance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	is, ok := c.byID[id]
	delete(c.byID, id)
	return is, ok
}
