package projections

import (
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// issuanceCapacity bounds the tickets whose issuance the sales model keeps
// in memory; each is dropped when its refund is applied, so under a refund
// load it holds about the refunds decided and not yet applied.
const issuanceCapacity = 4096

// issuance is what a refund's sales delta needs of its ticket's
// TicketIssued event.
type issuance struct {
	theater, movie string
	priceKRW       int64
}

func issuanceOf(e domain.TicketIssued) issuance {
	return issuance{theater: e.TheaterName, movie: e.MovieTitle, priceKRW: e.PriceKRW}
}

// issuances remembers the issuance of tickets whose refund was just
// decided, so the sales delta of the refund does not read the ticket's
// stream again; a ticket it does not hold is read from the log. An issuance
// never changes once committed, so an entry is never wrong, at most no
// longer needed. When full it drops an arbitrary entry. It is safe for
// concurrent use.
type issuances struct {
	mu   sync.Mutex
	byID map[string]issuance
}

func newIssuances() *issuances {
	return &issuances{byID: make(map[string]issuance, 256)}
}

func (c *issuances) put(id string, is issuance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	putBounded(c.byID, id, is, issuanceCapacity)
}

// take returns and forgets the issuance of ticket id.
func (c *issuances) take(id string) (issuance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	is, ok := c.byID[id]
	delete(c.byID, id)
	return is, ok
}
