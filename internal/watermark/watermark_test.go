package watermark

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheMarkReachesThePosition(t *testing.T) {
	var w Watermark
	done := make(chan error, 1)
	go func() { done <- w.WaitFor(context.Background(), 2) }()
	w.Advance(1)
	select {
	case err := <-done:
		t.Fatalf("WaitFor(2) returned %v at position 1", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Advance(3)
	if err := <-done; err != nil {
		t.Fatalf("WaitFor(2) at position 3: %v", err)
	}
}

func TestWaitUntilEndsWithTheContext(t *testing.T) {
	var w Watermark
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := WaitUntil(ctx, 1, w.Changed); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitUntil beyond the mark: %v, want the context's deadline", err)
	}
	if err := WaitUntil(ctx, 0, w.Changed); err != nil {
		t.Fatalf("WaitUntil at the mark after the context ended: %v, want nil", err)
	}
}

func TestReachedAtGivesTheTimeOfTheAdvanceThatCrossedThePosition(t *testing.T) {
	var w Watermark
	w.Advance(5) // before Remember: not remembered
	w.Remember(2)
	t0 := time.Now()
	w.Advance(8)
	t1 := time.Now()
	w.Advance(9)
	if _, found := w.ReachedAt(5); found {
		t.Fatal("ReachedAt(5) found an advance made before Remember")
	}
	at, found := w.ReachedAt(6)
	if !found || at.Before(t0) || at.After(t1) {
		t.Fatalf("ReachedAt(6) = %v, %v; want the advance to 8, between %v and %v", at, found, t0, t1)
	}
	if at8, _ := w.ReachedAt(8); !at8.Equal(at) {
		t.Fatalf("ReachedAt(8) = %v, want the same advance as 6 (%v)", at8, at)
	}
	if at9, found := w.ReachedAt(9); !found || at9.Before(at) {
		t.Fatalf("ReachedAt(9) = %v, %v; want the later advance", at9, found)
	}
	if _, found := w.ReachedAt(10); found {
		t.Fatal("ReachedAt(10) found a position not reached")
	}
	for v := int64(10); v < 20; v++ {
		w.Advance(v)
	}
	if _, found := w.ReachedAt(9); found {
		t.Fatal("ReachedAt(9) still found after 10 advances with Remember(2)")
	}
	if _, found := w.ReachedAt(19); !found {
		t.Fatal("ReachedAt(19) not found right after the advance to 19")
	}
}
