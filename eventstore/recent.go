package eventstore

import (
	"slices"
	"sync"
)

// RecentCapacity is how many of the newest events a store keeps in memory.
const RecentCapacity = 4096

// RecentLog keeps the newest events a store committed in memory, so the
// readers that follow the head of the log (the relay, the projectors, live
// streams) do not go to the database for what was just written. It holds a
// run of consecutive positions; a commit that does not continue it (another
// process appended in between) starts a new run. It is safe for concurrent
// use.
type RecentLog struct {
	mu   sync.RWMutex
	ring []Record // ring[(first-1) % cap] holds position first, and so on
	// first is the position of the oldest cached event; last the newest
	// (last < first when empty).
	first, last int64
}

// NewRecentLog returns an empty cache of capacity events for a log whose
// last position is head: it holds what is committed after head.
func NewRecentLog(capacity int, head int64) *RecentLog {
	return &RecentLog{ring: make([]Record, capacity), first: head + 1, last: head}
}

// Add caches committed records, consecutive and in position order. When
// they do not continue the cached run, the run restarts with them.
func (c *RecentLog) Add(records []Record) {
	if len(records) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if records[0].Position != c.last+1 {
		c.first, c.last = records[0].Position, records[0].Position-1
	}
	for _, r := range records {
		c.ring[(r.Position-1)%int64(len(c.ring))] = r
		c.last = r.Position
	}
	if c.last-c.first >= int64(len(c.ring)) {
		c.first = c.last - int64(len(c.ring)) + 1
	}
}

// AddCommitted caches the records of the appends of a group commit that
// succeeded, in order.
func (c *RecentLog) AddCommitted(outcomes []Outcome) {
	for _, out := range outcomes {
		if out.Err == nil {
			c.Add(out.Result.Records)
		}
	}
}

// Read returns up to limit cached events after position after, keeping only
// the given types when any are given, as the log holds them when its head
// is head. ok is false unless the cache holds position after+1 and either
// limit events or every event up to head: a miss is read from the database.
func (c *RecentLog) Read(after int64, limit int, types []string, head int64) (records []Record, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if after+1 < c.first || after > c.last {
		return nil, false
	}
	records = []Record{}
	pos := after + 1
	for ; pos <= c.last && len(records) < limit; pos++ {
		r := c.ring[(pos-1)%int64(len(c.ring))]
		if len(types) == 0 || slices.Contains(types, r.Type) {
			records = append(records, r)
		}
	}
	if len(records) < limit && c.last < head {
		return nil, false
	}
	return records, true
}
