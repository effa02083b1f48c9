package sqlite

import (
	"testing"
	"time"
)

// TestWriteGateLetsLockFirstPassWaitingLocks holds the order of the gate:
// with a Lock caller and a LockFirst caller waiting, LockFirst's goes first
// even though it came second; and the gate is exclusive.
func TestWriteGateLetsLockFirstPassWaitingLocks(t *testing.T) {
	var g writeGate
	g.Lock()
	order := make(chan string, 2)
	go func() {
		g.Lock()
		order <- "lock"
		g.Unlock()
	}()
	time.Sleep(20 * time.Millisecond) // the Lock caller waits first
	go func() {
		g.LockFirst()
		order <- "first"
		time.Sleep(20 * time.Millisecond) // still held: the Lock caller waits
		g.Unlock()
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		waiting := g.waitingFirst
		g.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the LockFirst caller never waited")
		}
	}
	select {
	case who := <-order:
		t.Fatalf("%s got the gate while it was held", who)
	default:
	}
	g.Unlock()
	for _, want := range []string{"first", "lock"} {
		select {
		case got := <-order:
			if got != want {
				t.Fatalf("gate passed %q; want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no one passed; want %q", want)
		}
	}
}
