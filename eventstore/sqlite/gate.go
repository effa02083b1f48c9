package sqlite

import "sync"

// writeGate serializes the write transactions on the file, letting the
// short derived-state transactions (projections, checkpoints: no fsync of
// their own) pass before waiting group commits, so a projection is not
// held back by the appends that arrive while it waits. The zero value is
// an open gate.
type writeGate struct {
	mu      sync.Mutex
	changed sync.Cond // signalled when held or waitingFirst falls
	held    bool
	// waitingFirst counts the LockFirst callers waiting.
	waitingFirst int
}

// Lock waits until the gate is free and no LockFirst caller waits, then
// holds it.
func (g *writeGate) Lock() { g.lock(false) }

// LockFirst waits until the gate is free, ahead of every Lock caller, then
// holds it.
func (g *writeGate) LockFirst() { g.lock(true) }

func (g *writeGate) lock(first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed.L == nil {
		g.changed.L = &g.mu
	}
	if first {
		g.waitingFirst++
		defer func() { g.waitingFirst-- }()
	}
	for g.held || (!first && g.waitingFirst > 0) {
		g.changed.Wait()
	}
	g.held = true
}

// Unlock frees the gate.
func (g *writeGate) Unlock() {
	g.mu.Lock()
	g.held = false
	g.mu.Unlock()
	g.changed.Broadcast()
}
