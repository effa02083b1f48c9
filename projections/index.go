package projections

import (
	"sort"

	"github.com/ticketd/ticketd/domain"
)

// listIndex answers the filter, count and paging part of list queries in
// memory, so they cost the same on a million tickets as on ten: for every
// filterable value it holds the issue positions of its tickets in ascending
// (issue) order, and it knows which tickets are canceled. Rows are then read
// from the table by primary key. It is not safe for concurrent use; Tickets
// guards it.
type listIndex struct {
	all      postings
	byField  [3]map[string]*postings // theater_name, user_id, movie_title
	canceled bitset
}

// The filterable text fields, in byField order.
const (
	fieldTheater = iota
	fieldUser
	fieldMovie
)

// postings is the ascending issue positions of the tickets with one value,
// and how many of them are canceled.
type postings struct {
	positions []int64
	canceled  int
}

func newListIndex() *listIndex {
	ix := &listIndex{}
	for i := range ix.byField {
		ix.byField[i] = map[string]*postings{}
	}
	return ix
}

func (t IndexEntry) values() [3]string { return [3]string{t.TheaterName, t.UserID, t.MovieTitle} }

// holds reports whether the ticket issued at pos was added.
func (ix *listIndex) holds(pos int64) bool {
	n := len(ix.all.positions)
	return n > 0 && pos <= ix.all.positions[n-1]
}

// add records a newly issued ticket; positions must arrive in ascending order.
func (ix *listIndex) add(t IndexEntry) {
	ix.all.positions = append(ix.all.positions, t.IssuePosition)
	for i, v := range t.values() {
		p := ix.byField[i][v]
		if p == nil {
			p = &postings{}
			ix.byField[i][v] = p
		}
		p.positions = append(p.positions, t.IssuePosition)
	}
}

// cancel records that an indexed ticket was refunded.
func (ix *listIndex) cancel(t IndexEntry) {
	if ix.canceled.has(t.IssuePosition) {
		return
	}
	ix.canceled.set(t.IssuePosition)
	ix.all.canceled++
	for i, v := range t.values() {
		if p := ix.byField[i][v]; p != nil {
			p.canceled++
		}
	}
}

// page returns the issue positions of the matching tickets from offset, at
// most limit of them, and the number of all matches.
func (ix *listIndex) page(f Filter) (positions []int64, total int64) {
	lists := []*postings{}
	for i, v := range [3]string{f.TheaterName, f.UserID, f.MovieTitle} {
		if v == "" {
			continue
		}
		p := ix.byField[i][v]
		if p == nil {
			return nil, 0
		}
		lists = append(lists, p)
	}
	if len(lists) == 0 {
		lists = append(lists, &ix.all)
	}
	if len(lists) == 1 && f.Status == "" {
		return window(lists[0].positions, f.Offset, f.Limit), int64(len(lists[0].positions))
	}
	if len(lists) == 1 {
		total = int64(lists[0].canceled)
		if f.Status == domain.StatusIssued {
			total = int64(len(lists[0].positions) - lists[0].canceled)
		}
		if int64(f.Offset) >= total {
			return nil, total
		}
	}
	match := func(pos int64) bool {
		return f.Status == "" || ix.canceled.has(pos) == (f.Status == domain.StatusCanceled)
	}
	var counted int64
	skip := f.Offset
	intersect(lists, func(pos int64) bool {
		if !match(pos) {
			return true
		}
		counted++
		switch {
		case skip > 0:
			skip--
		case len(positions) < f.Limit:
			positions = append(positions, pos)
		case len(lists) == 1:
			return false // total is known: stop once the page is full
		}
		return true
	})
	if len(lists) > 1 {
		total = counted
	}
	return positions, total
}

// window returns s[offset:offset+limit], clipped to s.
func window(s []int64, offset, limit int) []int64 {
	if offset >= len(s) {
		return nil
	}
	return s[offset:min(len(s), offset+limit)]
}

// intersect calls yield with each position in every list, ascending, until
// yield returns false. It walks the shortest list and gallops in the others.
func intersect(lists []*postings, yield func(int64) bool) {
	sort.Slice(lists, func(i, j int) bool { return len(lists[i].positions) < len(lists[j].positions) })
	cursors := make([]int, len(lists))
next:
	for _, pos := range lists[0].positions {
		for i := 1; i < len(lists); i++ {
			rest := lists[i].positions[cursors[i]:]
			j := sort.Search(len(rest), func(k int) bool { return rest[k] >= pos })
			cursors[i] += j
			if j == len(rest) {
				return
			}
			if rest[j] != pos {
				continue next
			}
		}
		if !yield(pos) {
			return
		}
	}
}

// bitset is a growable set of non-negative integers.
type bitset []uint64

func (b bitset) has(i int64) bool {
	w := i / 64
	return w < int64(len(b)) && b[w]&(1<<(uint(i)%64)) != 0
}

func (b *bitset) set(i int64) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1+len(*b)/4)...)
	}
	(*b)[w] |= 1 << (uint(i) % 64)
}
