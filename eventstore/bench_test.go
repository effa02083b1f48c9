package eventstore_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
)

// BenchmarkAppend measures one append of one new ticket at a time: every
// commit waits for its own fsync.
func BenchmarkAppend(b *testing.B) {
	s, _ := MustOpenStore(b, eventstore.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, issueReq(newStream())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendConcurrent measures appends from many goroutines, which
// group commit folds into shared transactions.
func BenchmarkAppendConcurrent(b *testing.B) {
	s, _ := MustOpenStore(b, eventstore.Options{})
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ctx, issueReq(newStream())); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
