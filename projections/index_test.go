package projections

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ticketd/ticketd/domain"
)

// TestListIndexMatchesAPlainFilter compares every kind of query the index
// answers with filtering a plain slice, over random tickets and refunds.
func TestListIndexMatchesAPlainFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ix := newListIndex()
	var tickets []IndexEntry
	pos := int64(0)
	for i := 0; i < 3000; i++ {
		pos += 1 + rng.Int64N(3) // issue positions have gaps where refunds were appended
		tk := IndexEntry{IssuePosition: pos, TheaterName: fmt.Sprint("t", rng.IntN(4)), UserID: fmt.Sprint("u", rng.IntN(40)), MovieTitle: fmt.Sprint("m", rng.IntN(6))}
		ix.add(tk)
		tickets = append(tickets, tk)
		if rng.IntN(3) == 0 {
			victim := &tickets[rng.IntN(len(tickets))]
			ix.cancel(*victim)
			ix.cancel(*victim) // a redelivered refund changes nothing
			victim.Canceled = true
		}
	}
	pick := func(prefix string, n int) string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return fmt.Sprint(prefix, rng.IntN(n+1)) // n+1: sometimes a value no ticket has
	}
	for q := 0; q < 2000; q++ {
		f := Filter{TheaterName: pick("t", 4), UserID: pick("u", 40), MovieTitle: pick("m", 6),
			Limit: 1 + rng.IntN(50), Offset: rng.IntN(200)}
		switch rng.IntN(3) {
		case 1:
			f.Status = domain.StatusIssued
		case 2:
			f.Status = domain.StatusCanceled
		}
		var want []int64
		for _, tk := range tickets {
			if (f.TheaterName == "" || tk.TheaterName == f.TheaterName) && (f.UserID == "" || tk.UserID == f.UserID) &&
				(f.MovieTitle == "" || tk.MovieTitle == f.MovieTitle) && (f.Status == "" || tk.Canceled == (f.Status == domain.StatusCanceled)) {
				want = append(want, tk.IssuePosition)
			}
		}
		got, total := ix.page(f)
		if total != int64(len(want)) || !slices.Equal(got, window(want, f.Offset, f.Limit)) {
			t.Fatalf("%+v: total %d page %v; want total %d page %v", f, total, got, len(want), window(want, f.Offset, f.Limit))
		}
	}
}
