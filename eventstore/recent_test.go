package eventstore_test

import (
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

func TestRecentLogServesOnlyWhatItHolds(t *testing.T) {
	c := eventstore.NewRecentLog(4, 10) // the log had 10 events when the store opened
	if _, ok := c.Read(9, 10, nil, 10); ok {
		t.Fatal("served events committed before it was created")
	}
	if got, ok := c.Read(10, 10, nil, 10); !ok || len(got) != 0 {
		t.Fatalf("read at the head = %v, %v; want an empty hit", got, ok)
	}
	for pos := int64(11); pos <= 16; pos++ {
		typ := storetest.SampleEvent(1).EventType()
		if pos%2 == 0 {
			typ = storetest.SampleFollowUp().EventType()
		}
		c.Add([]eventstore.Record{{Position: pos, Type: typ}})
	}
	if _, ok := c.Read(11, 10, nil, 16); ok {
		t.Fatal("served position 12, which the ring of 4 overwrote")
	}
	got, ok := c.Read(12, 10, nil, 16)
	if !ok || len(got) != 4 || got[0].Position != 13 || got[3].Position != 16 {
		t.Fatalf("read(12) = %v, %v", got, ok)
	}
	got, _ = c.Read(12, 1, []string{storetest.SampleFollowUp().EventType()}, 16)
	if len(got) != 1 || got[0].Position != 14 {
		t.Fatalf("type filter before limit: %v", got)
	}
}

// TestRecentLogMissesWhatOthersAppended holds a store's cache when another
// process appends too: what it cannot show in full is read from the database.
func TestRecentLogMissesWhatOthersAppended(t *testing.T) {
	c := eventstore.NewRecentLog(8, 0)
	c.Add([]eventstore.Record{{Position: 1}, {Position: 2}})
	// Another process appended 3 and 4; the head is known to be 4.
	if _, ok := c.Read(0, 10, nil, 4); ok {
		t.Fatal("served 1 and 2 as all there is though the head is 4")
	}
	if got, ok := c.Read(0, 2, nil, 4); !ok || len(got) != 2 {
		t.Fatalf("read of the 2 cached events = %v, %v; want a hit", got, ok)
	}
	c.Add([]eventstore.Record{{Position: 5}})
	if _, ok := c.Read(2, 10, nil, 5); ok {
		t.Fatal("served across the gap of the other process's events")
	}
	if got, ok := c.Read(4, 10, nil, 5); !ok || len(got) != 1 || got[0].Position != 5 {
		t.Fatalf("read after the gap = %v, %v; want position 5", got, ok)
	}
	if _, ok := c.Read(7, 10, nil, 7); ok {
		t.Fatal("answered for positions beyond what it holds")
	}
}
