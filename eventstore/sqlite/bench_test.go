package sqlite_test

import (
	"context"
	"testing"

	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// BenchmarkAppend measures one append of one new ticket at a time: every
// commit waits for its own fsync.
func BenchmarkAppend(b *testing.B) {
	s, _ := MustOpenStore(b, sqlite.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, storetest.IssueRequest(storetest.NewStream())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendConcurrent measures appends from many goroutines, which
// group commit folds into shared transactions.
func BenchmarkAppendConcurrent(b *testing.B) {
	s, _ := MustOpenStore(b, sqlite.Options{})
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ctx, storetest.IssueRequest(storetest.NewStream())); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClaims compares concurrent appends without and with claims on
// one hot counter (see storetest.BenchmarkClaims).
func BenchmarkClaims(b *testing.B) {
	s, _ := MustOpenStore(b, sqlite.Options{})
	storetest.BenchmarkClaims(b, s)
}
