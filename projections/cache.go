package projections

import (
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// ticketCacheCapacity bounds the tickets Get keeps in memory.
const ticketCacheCapacity = 65536

// ticketCache holds recently read tickets by id, so repeated reads of hot
// tickets skip SQLite; when full it drops an arbitrary entry. It is safe for
// concurrent use. Tickets fills it only under viewMu's read lock and forgets
// changed tickets under viewMu's write lock, so a fill never races an apply
// and never caches a row the apply just replaced.
type ticketCache struct {
	mu      sync.Mutex
	entries map[string]domain.Ticket
}

func newTicketCache() *ticketCache {
	return &ticketCache{entries: make(map[string]domain.Ticket, 1024)}
}

func (c *ticketCache) get(id string) (domain.Ticket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[id]
	return t, ok
}

func (c *ticketCache) put(t domain.Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[t.ID]; !ok && len(c.entries) >= ticketCacheCapacity {
		for id := range c.entries {
			delete(c.entries, id)
			break
		}
	}
	c.entries[t.ID] = t
}

func (c *ticketCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
