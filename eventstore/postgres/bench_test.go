package postgres_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// holdTimes collects the append-lock hold times a store reports.
type holdTimes struct {
	mu   sync.Mutex
	held []time.Duration
}

func (h *holdTimes) add(_, d time.Duration) {
	h.mu.Lock()
	h.held = append(h.held, d)
	h.mu.Unlock()
}

// report adds the p50 and p99 hold times to b's results, in microseconds.
func (h *holdTimes) report(b *testing.B) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		return
	}
	slices.Sort(h.held)
	at := func(q float64) float64 { return float64(h.held[int(q*float64(len(h.held)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "lock-p50-µs")
	b.ReportMetric(at(0.99), "lock-p99-µs")
}

// BenchmarkAppend measures one append of one new ticket at a time: every
// commit waits for its own WAL flush.
func BenchmarkAppend(b *testing.B) {
	var h holdTimes
	s, _ := MustOpenStore(b, postgres.Options{OnAppendLock: h.add})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, issueReq(storetest.NewStream())); err != nil {
			b.Fatal(err)
		}
	}
	h.report(b)
}

// BenchmarkAppendConcurrent measures appends from many goroutines, which
// group commit folds into shared transactions.
func BenchmarkAppendConcurrent(b *testing.B) { benchmarkConcurrent(b, 1) }

// BenchmarkAppendConcurrentAcrossStores is BenchmarkAppendConcurrent over
// four stores on one database, which take turns at the append lock.
func BenchmarkAppendConcurrentAcrossStores(b *testing.B) { benchmarkConcurrent(b, 4) }

func benchmarkConcurrent(b *testing.B, n int) {
	var h holdTimes
	db := freshDatabase(b)
	var stores []*postgres.Store
	for range n {
		stores = append(stores, mustOpen(b, db, postgres.Options{Shared: true, OnAppendLock: h.add}))
	}
	ctx := context.Background()
	var next sync.Mutex
	i := 0
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		s := stores[i%len(stores)]
		i++
		next.Unlock()
		for pb.Next() {
			if _, err := s.Append(ctx, issueReq(storetest.NewStream())); err != nil {
				b.Error(err)
				return
			}
		}
	})
	h.report(b)
}

// BenchmarkClaims compares concurrent appends without and with claims on
// one hot counter (see storetest.BenchmarkClaims).
func BenchmarkClaims(b *testing.B) {
	s, _ := MustOpenStore(b, postgres.Options{})
	storetest.BenchmarkClaims(b, s)
}
