package sqlite

import (
	"slices"
	"sync"

	"github.com/ticketd/ticketd/eventstore"
)

// recentCapacity is how many of the newest events the store keeps in memory.
const recentCapacity = 4096

// recentLog keeps the newest committed events in memory, so the readers that
// follow the head of the log (the relay, the projector, live streams) do not
// go to SQLite for what was just written. It is safe for concurrent use.
type recentLog struct {
	mu   sync.RWMutex
	ring []eventstore.Record // ring[(first-1) % cap] holds position first, and so on
	// first is the position of the oldest cached event; last the newest
	// (last < first when empty).
	first, last int64
}

// newRecentLog returns an empty cache for a log whose last position is head:
// it holds what is committed after head.
func newRecentLog(capacity int, head int64) *recentLog {
	return &recentLog{ring: make([]eventstore.Record, capacity), first: head + 1, last: head}
}

// add caches committed records, which continue the log without a gap.
func (c *recentLog) add(records []eventstore.Record) {
	if len(records) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range records {
		c.ring[(r.Position-1)%int64(len(c.ring))] = r
		c.last = r.Position
	}
	if c.last-c.first >= int64(len(c.ring)) {
		c.first = c.last - int64(len(c.ring)) + 1
	}
}

// read returns up to limit cached events after position after, keeping only
// the given types when any are given; ok is false when the cache does not
// reach back to after+1.
func (c *recentLog) read(after int64, limit int, types []string) (records []eventstore.Record, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if after+1 < c.first {
		return nil, false
	}
	records = []eventstore.Record{}
	for pos := after + 1; pos <= c.last && len(records) < limit; pos++ {
		r := c.ring[(pos-1)%int64(len(c.ring))]
		if len(types) == 0 || slices.Contains(types, r.Type) {
			records = append(records, r)
		}
	}
	return records, true
}
