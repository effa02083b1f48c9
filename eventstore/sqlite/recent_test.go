package sqlite

import (
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

func TestRecentLogServesOnlyWhatItHolds(t *testing.T) {
	c := newRecentLog(4, 10) // the log had 10 events when the store opened
	if _, ok := c.read(9, 10, nil); ok {
		t.Fatal("served events committed before it was created")
	}
	if got, ok := c.read(10, 10, nil); !ok || len(got) != 0 {
		t.Fatalf("read at the head = %v, %v; want an empty hit", got, ok)
	}
	for pos := int64(11); pos <= 16; pos++ {
		typ := storetest.SampleEvent(1).EventType()
		if pos%2 == 0 {
			typ = storetest.SampleFollowUp().EventType()
		}
		c.add([]eventstore.Record{{Position: pos, Type: typ}})
	}
	if _, ok := c.read(11, 10, nil); ok {
		t.Fatal("served position 12, which the ring of 4 overwrote")
	}
	got, ok := c.read(12, 10, nil)
	if !ok || len(got) != 4 || got[0].Position != 13 || got[3].Position != 16 {
		t.Fatalf("read(12) = %v, %v", got, ok)
	}
	got, _ = c.read(12, 1, []string{storetest.SampleFollowUp().EventType()})
	if len(got) != 1 || got[0].Position != 14 {
		t.Fatalf("type filter before limit: %v", got)
	}
}
