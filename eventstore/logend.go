package eventstore

import (
	"sync"
	"time"

	"github.com/ticketd/ticketd/internal/watermark"
)

// Tip is the end of a log: the last event's position and its hash, which
// the next event chains from. An empty log's is 0 and GenesisHash.
type Tip struct {
	Position int64
	Hash     string
}

// LogEnd is the tip of a store's log as the store knows it, with a
// watermark of its position that readers wait on. A store embeds it for the
// head methods of Reader (Head, LogHead, HeadChanged, HeadReachedAt) and
// LastHash. The zero value is ready; it is safe for concurrent use.
type LogEnd struct {
	mu   sync.Mutex
	tip  Tip
	mark watermark.Watermark
}

// Advance moves the tip to t and wakes those waiting on the head, unless t
// is behind the tip, or at its position without a hash (a zero or partial
// tip, as a malformed notification gives).
func (e *LogEnd) Advance(t Tip) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.Position < e.tip.Position || t.Position == e.tip.Position && t.Hash == "" {
		return
	}
	e.tip = t
	e.mark.Advance(t.Position)
}

// RememberMoves makes HeadReachedAt answer for the moves of the head from
// now on (the last HeadMemory of them): call it once the tip the store found
// when it opened is loaded.
func (e *LogEnd) RememberMoves() { e.mark.Remember(HeadMemory) }

// Head returns the position of the last committed event, 0 for an empty log.
func (e *LogEnd) Head() int64 { return e.mark.Value() }

// Tip returns the tip: 0 and GenesisHash for an empty log once loaded.
func (e *LogEnd) Tip() Tip {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tip
}

// LogHead returns the position and hash of the last committed event, read
// together: 0 and GenesisHash for an empty log.
func (e *LogEnd) LogHead() (position int64, hash string) {
	t := e.Tip()
	return t.Position, t.Hash
}

// LastHash returns the hash of the last committed event, GenesisHash for an
// empty log.
func (e *LogEnd) LastHash() string {
	_, hash := e.LogHead()
	return hash
}

// HeadChanged returns the head and a channel closed when the next Advance
// moves it.
func (e *LogEnd) HeadChanged() (int64, <-chan struct{}) { return e.mark.Changed() }

// HeadReachedAt returns when the head first reached position; see Reader.
func (e *LogEnd) HeadReachedAt(position int64) (time.Time, bool) { return e.mark.ReachedAt(position) }
