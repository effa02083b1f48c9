package eventstore_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// TestBatchMessageCarriesItsRecordsInContextAndPayload holds the two ways a
// batch message reaches a subscriber: with its context (in process), the
// very records; without (a copy, as a broker delivers it), the same records
// decoded from the payload.
func TestBatchMessageCarriesItsRecordsInContextAndPayload(t *testing.T) {
	at := time.Date(2026, 12, 5, 9, 30, 0, 123000, time.UTC)
	var records []eventstore.Record
	for pos := int64(1); pos <= 3; pos++ {
		records = append(records, eventstore.Record{
			Position: pos, ID: fmt.Sprint("id-", pos), StreamID: fmt.Sprint("stream-", pos), Version: 1,
			Type: storetest.SampleEvent(1).EventType(), OccurredAt: at,
			Data: []byte(`{"price_krw":15000,"memo":"VIP석 \u003ca\u003e"}`), Metadata: []byte(`{"correlation_id":"c"}`),
			PrevHash: fmt.Sprint("prev-", pos), Hash: fmt.Sprint("hash-", pos),
		})
	}
	msg, err := eventstore.NewBatchMessage(records)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Metadata.Get(eventstore.MessageFirstPosition) != "1" || msg.Metadata.Get(eventstore.MessagePosition) != "3" {
		t.Fatalf("metadata = %v", msg.Metadata)
	}
	inProcess, err := eventstore.RecordsFromBatchMessage(msg)
	if err != nil || &inProcess[0] != &records[0] {
		t.Fatalf("in process: %v; want the very records", err)
	}
	decoded, err := eventstore.RecordsFromBatchMessage(msg.Copy())
	if err != nil || !reflect.DeepEqual(decoded, records) {
		t.Fatalf("decoded from the payload:\n%+v, %v\nwant\n%+v", decoded, err, records)
	}
}
