package eventstore_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/eventstore"
)

// exportedEvent is one line of `ticketd export --format jsonl`.
const exportedEvent = `{"position":1,"id":"0193a1b2-0000-7000-8000-000000000001","stream_id":"0193a1b2-0000-7000-8000-000000000002",` +
	`"version":1,"type":"TicketIssued","occurred_at":"2026-11-25T10:00:00.123456Z",` +
	`"data":{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"memo":"VIP\u003c석\u003e"},` +
	`"metadata":{"request_id":"req-1"},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",` +
	`"hash":"5f0c7d6b2c2a4e0e9d1f8f4b8c3a6e2d1b0a9f8e7d6c5b4a3928170615243342"}`

// recordEncodings are the ways the service writes a record and reads it back:
// the API's JSON, an export line, and a relayed message.
var recordEncodings = map[string]func(eventstore.Record) (eventstore.Record, error){
	"api JSON": func(r eventstore.Record) (eventstore.Record, error) {
		b, err := json.Marshal(r)
		if err != nil {
			return eventstore.Record{}, err
		}
		var back eventstore.Record
		return back, json.Unmarshal(b, &back)
	},
	"export line": func(r eventstore.Record) (eventstore.Record, error) {
		var buf bytes.Buffer
		if err := eventstore.NewRecordEncoder(&buf).Encode(r); err != nil {
			return eventstore.Record{}, err
		}
		var back eventstore.Record
		return back, json.Unmarshal(buf.Bytes(), &back)
	},
	"relayed message": func(r eventstore.Record) (eventstore.Record, error) {
		msg, err := eventstore.NewMessage(r)
		if err != nil {
			return eventstore.Record{}, err
		}
		return eventstore.RecordFromMessage(msg)
	},
}

// FuzzRecordJSON decodes arbitrary bytes as an event's JSON, as import does
// with export lines and the projection with relayed messages. Decoding never
// panics, a message decodes exactly as the same bytes do, and a record that
// decodes comes back unchanged through every encoding the service writes, so
// an export re-imports with the hashes it was exported with.
func FuzzRecordJSON(f *testing.F) {
	f.Add([]byte(exportedEvent))
	f.Add([]byte(`{"position":2,"type":"TicketRefunded","occurred_at":"2026-11-25T19:00:00.5+09:00","data":{"reason":null},"metadata":{}}`))
	f.Add([]byte(`{"occurred_at":"2026-11-25T10:00:00Z","data":{ "reason" : "<b>" },"metadata":null}`))
	f.Add([]byte(`{"occurred_at":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"position":9223372036854775808,"occurred_at":"2026-11-25T10:00:00Z","data":1,"metadata":2}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var rec eventstore.Record
		err := json.Unmarshal(payload, &rec)
		fromMessage, msgErr := eventstore.RecordFromMessage(message.NewMessage("fuzz", payload))
		if (err == nil) != (msgErr == nil) || !reflect.DeepEqual(fromMessage, rec) {
			t.Fatalf("as a message the payload decodes to %+v (%v), as bytes to %+v (%v)", fromMessage, msgErr, rec, err)
		}
		if err != nil {
			return
		}
		for name, roundTrip := range recordEncodings {
			back, err := roundTrip(rec)
			if err != nil {
				t.Fatalf("%s: a decoded record does not round-trip: %v\nrecord %+v", name, err, rec)
			}
			if !reflect.DeepEqual(back, rec) {
				t.Fatalf("%s: decoded record changed on its round trip\n got %+v\nwant %+v", name, back, rec)
			}
		}
	})
}
