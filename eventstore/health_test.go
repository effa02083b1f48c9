package eventstore_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

func TestCheckWritable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := MustOpenStore(t, eventstore.Options{})

	t.Run("open store takes writes", func(t *testing.T) {
		if err := s.CheckWritable(ctx); err != nil {
			t.Fatalf("CheckWritable = %v", err)
		}
	})
	t.Run("read-only store is unavailable", func(t *testing.T) {
		ro, err := eventstore.Open(path, eventstore.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if err := ro.CheckWritable(ctx); domain.ErrorCode(err) != domain.CodeUnavailable {
			t.Fatalf("CheckWritable on a read-only store = %v, want code %s", err, domain.CodeUnavailable)
		}
	})
	t.Run("closed store fails", func(t *testing.T) {
		closed, _ := MustOpenStore(t, eventstore.Options{})
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		if err := closed.CheckWritable(ctx); err == nil {
			t.Fatal("CheckWritable on a closed store = nil")
		}
	})
}
