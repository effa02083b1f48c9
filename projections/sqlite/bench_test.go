package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/projectiontest"
)

// BenchmarkRebuild measures replaying the log into the read models' tables;
// one op is one event (nine of ten issue a ticket, one refunds it).
func BenchmarkRebuild(b *testing.B) {
	s, storage := mustOpen(b)
	ctx := context.Background()
	for issuedSoFar := 0; issuedSoFar < b.N; {
		ids := projectiontest.Issue(b, s, "u", theaters(min(900, b.N-issuedSoFar))...)
		for i := 0; i < len(ids) && i < 100; i += 9 {
			projectiontest.Refund(b, s, ids[i])
		}
		issuedSoFar += len(ids) + (len(ids)+8)/9
	}
	b.ReportAllocs()
	b.ResetTimer()
	n, err := projections.Rebuild(ctx, s, storage, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func theaters(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("CGV ", i%8)
	}
	return out
}
