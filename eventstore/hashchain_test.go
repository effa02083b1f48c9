package eventstore_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// TestComputeHashMatchesTheDocumentedEncoding pins the canonical encoding:
// changing it would make every stored log fail verification.
func TestComputeHashMatchesTheDocumentedEncoding(t *testing.T) {
	r := eventstore.Record{
		Position: 1, ID: "01a214a4-6854-7c5c-a6b0-f4758a5dcca7", StreamID: "01a214a4-6854-7c62-b997-a8fb58c3b723", Version: 1,
		Type: "TicketIssued", OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
		Data:     []byte(`{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"memo":null}`),
		Metadata: []byte(`{"request_id":"r1","correlation_id":"r1"}`),
		PrevHash: eventstore.GenesisHash,
	}
	got := r.ComputeHash()
	if len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not 64 lowercase hex digits", got)
	}
	if got != goldenHash {
		t.Fatalf("ComputeHash = %s, want %s (the documented encoding changed?)", got, goldenHash)
	}
	for name, change := range map[string]func(*eventstore.Record){
		"position":    func(r *eventstore.Record) { r.Position = 2 },
		"id":          func(r *eventstore.Record) { r.ID = "x" },
		"stream":      func(r *eventstore.Record) { r.StreamID = "x" },
		"version":     func(r *eventstore.Record) { r.Version = 2 },
		"type":        func(r *eventstore.Record) { r.Type = "TicketRefunded" },
		"occurred_at": func(r *eventstore.Record) { r.OccurredAt = r.OccurredAt.Add(time.Microsecond) },
		"data":        func(r *eventstore.Record) { r.Data = bytes.Replace(r.Data, []byte("15000"), []byte("15001"), 1) },
		"metadata":    func(r *eventstore.Record) { r.Metadata = []byte(`{}`) },
		"prev_hash":   func(r *eventstore.Record) { r.PrevHash = strings.Repeat("1", 64) },
		// Field boundaries are length-prefixed: moving a byte between fields changes the hash.
		"boundary": func(r *eventstore.Record) { r.ID, r.StreamID = r.ID+"0", r.StreamID[1:] },
	} {
		changed := r
		change(&changed)
		if changed.ComputeHash() == got {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

// goldenHash is the hash of the record in the test above, computed
// independently from the documented encoding (docs/AUDIT.md shows how).
const goldenHash = "cb74ce443e1d22074d4e67c2e52f61d069807786bb97485b5d6defb92287c445"
