package projectiontest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

// testRebuildOfManyChunksVerifiesAndReportsProgress rebuilds a log of
// several rebuild chunks whose refunds reach back into earlier chunks:
// every model ends at the head and matches a fresh fold, and progress
// rises to the head.
func testRebuildOfManyChunksVerifiesAndReportsProgress(t *testing.T, factory Factory) {
	s, storage := factory(t)
	var ids []string
	for range 5 {
		ids = append(ids, Issue(t, s, "u", slices.Repeat([]string{"CGV 강남", "메가박스 코엑스", "롯데시네마"}, 300)...)...)
	}
	var refunds eventstore.AppendRequest
	for i := 0; i < len(ids); i += 7 {
		refunds.Streams = append(refunds.Streams, eventstore.StreamAppend{StreamID: ids[i], ExpectedVersion: 1,
			Events: []domain.Event{domain.TicketRefunded{Reason: memo("고객 요청")}}})
	}
	if _, err := s.Append(context.Background(), refunds); err != nil {
		t.Fatal(err)
	}
	head := s.Head()
	var progress []int64
	n, err := projections.Rebuild(context.Background(), s, storage, func(pos int64) { progress = append(progress, pos) })
	if err != nil || n != head {
		t.Fatalf("rebuild: %d, %v; want %d", n, err, head)
	}
	if len(progress) < 3 || progress[len(progress)-1] != head || !slices.IsSorted(progress) || len(slices.Compact(slices.Clone(progress))) != len(progress) {
		t.Errorf("progress %v: want rising positions, several, ending at %d", progress, head)
	}
	for _, m := range projections.Models(s) {
		rep := Verify(t, s, storage, m.Schema().Name)
		if rep.Count != 0 || rep.Checkpoint != head {
			t.Errorf("%s after rebuild: %+v", m.Schema().Name, rep)
		}
	}
	if rep := Verify(t, s, storage, projections.TicketsCheckpoint); rep.Rows["tickets"] != int64(len(ids)) {
		t.Errorf("tickets after rebuild: %+v", rep)
	}
}

// testRebuildStopsAtAnEventItCannotFold rebuilds a log holding a refund of
// a ticket never issued: it fails naming a model and the chunk, and stops
// short of the head.
func testRebuildStopsAtAnEventItCannotFold(t *testing.T, factory Factory) {
	s, storage := factory(t)
	Issue(t, s, "u", slices.Repeat([]string{"CGV 강남"}, 2500)...)
	if _, err := s.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{
		StreamID: uuid.NewString(), Events: []domain.Event{domain.TicketRefunded{}}}}}); err != nil {
		t.Fatal(err)
	}
	n, err := projections.Rebuild(context.Background(), s, storage, nil)
	if err == nil || !strings.Contains(err.Error(), "rebuild projection:") || !strings.Contains(err.Error(), "up to position 2501") || n >= s.Head() {
		t.Fatalf("rebuild of a log with an unfoldable event: %d, %v", n, err)
	}
}
