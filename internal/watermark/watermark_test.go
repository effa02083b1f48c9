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
