package storetest

import (
	"encoding/json"

	"github.com/ticketd/ticketd/domain"
)

// The engines' own tests append and store these sample events, so that no
// engine package, its tests included, names an event type of the domain.

// SampleEvent is the event that opens a sample stream, with price in its data;
// its title holds characters that JSON encoders escape.
func SampleEvent(price int64) domain.Event {
	return domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목 <&>", PriceKRW: price}
}

// SampleFollowUp is the event that follows SampleEvent on its stream.
func SampleFollowUp() domain.Event { return domain.TicketRefunded{} }

// StoredEvent is an event as a row of the log holds it.
type StoredEvent struct{ Type, Data string }

// Stored returns e as a row of the log holds it.
func Stored(e domain.Event) StoredEvent {
	data, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return StoredEvent{Type: e.EventType(), Data: string(data)}
}
