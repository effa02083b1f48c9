package projections

import (
	"sync"

	"github.com/ticketd/ticketd/domain"
)

// ticketCacheCapacity bounds the tickets Get keeps in memory by id;
// listCacheCapacity those List keeps by issue position (hot pages).
const (
	ticketCacheCapacity = 65536
	listCacheCapacity   = 2048
)

// ticketCache holds recently read tickets by id, for Get, and by issue
// position, for List, so repeated reads of hot tickets and pages skip the
// table; when a map is full it drops an arbitrary entry. It is safe for
// concurrent use. Tickets fills it only under viewMu's read lock and forgets
// changed tickets under viewMu's write lock, so a fill never races an apply
// and never caches a row the apply just replaced.
type ticketCache struct {
	mu         sync.Mutex
	byID       map[string]domain.Ticket
	byPosition map[int64]domain.Ticket
}

func newTicketCache() *ticketCache {
	return &ticketCache{byID: make(map[string]domain.Ticket, 1024), byPosition: make(map[int64]domain.Ticket, 1024)}
}

func (c *ticketCache) get(id string) (domain.Ticket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.byID[id]
	return t, ok
}

func (c *ticketCache) put(t domain.Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	putBounded(c.byID, t.ID, t, ticketCacheCapacity)
}

// page returns the cached tickets at positions, in their order, and the
// positions it does not hold (nil when it holds all): page[i] is the zero
// Ticket for each of those.
func (c *ticketCache) page(positions []int64) (page []domain.Ticket, missing []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	page = make([]domain.Ticket, len(positions))
	for i, p := range positions {
		t, ok := c.byPosition[p]
		if !ok {
			missing = append(missing, p)
		}
		page[i] = t
	}
	return page, missing
}

// putAt caches tickets, read from the table at positions (the same length).
func (c *ticketCache) putAt(positions []int64, tickets []domain.Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range positions {
		putBounded(c.byPosition, p, tickets[i], listCacheCapacity)
	}
}

// forget drops the ticket e names, by id and by issue position.
func (c *ticketCache) forget(e IndexEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, e.ID)
	delete(c.byPosition, e.IssuePosition)
}

// putBounded sets m[k] to v, first dropping an arbitrary entry when k is
// new and m already holds capacity entries.
func putBounded[K comparable, V any](m map[K]V, k K, v V, capacity int) {
	if _, ok := m[k]; !ok && len(m) >= capacity {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}
