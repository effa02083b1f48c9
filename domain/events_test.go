package domain_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
)

func TestEventTypesAreTheDeclaredOnes(t *testing.T) {
	if want := []string{"TicketIssued", "TicketRefunded", "ShowingScheduled", "SeatsHeld", "HoldReleased", "HoldExpired"}; !slices.Equal(domain.EventTypes, want) {
		t.Errorf("EventTypes = %v, want %v", domain.EventTypes, want)
	}
	for _, typ := range domain.EventTypes {
		if !domain.IsEventType(typ) {
			t.Errorf("IsEventType(%q) = false", typ)
		}
	}
	if domain.IsEventType("TicketEaten") || domain.IsEventType("") {
		t.Error("IsEventType accepts an undeclared type")
	}
}

func TestDecodeEventGivesEachTypesData(t *testing.T) {
	issued, err := domain.DecodeEvent("TicketIssued", []byte(`{"theater_name":"CGV 강남","user_id":"u","movie_title":"m","price_krw":15000,"memo":null}`))
	if want := (domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000}); err != nil || !reflect.DeepEqual(issued, want) {
		t.Errorf("TicketIssued: %#v, %v; want %#v", issued, err, want)
	}
	refunded, err := domain.DecodeEvent("TicketRefunded", []byte(`{"reason":"late"}`))
	if want := (domain.TicketRefunded{Reason: ptr("late")}); err != nil || !reflect.DeepEqual(refunded, want) {
		t.Errorf("TicketRefunded: %#v, %v; want %#v", refunded, err, want)
	}
	limit := int64(4)
	expires := time.Date(2026, 12, 5, 10, 10, 0, 123456000, time.UTC)
	for _, c := range []struct {
		data string
		want domain.Event
	}{
		{`{"theater_name":"CGV 강남","movie_title":"파묘","starts_at":"2026-12-24T19:30:00+09:00","capacity":180,"price_krw":15000,"per_buyer_limit":4}`,
			domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2026-12-24T19:30:00+09:00", Capacity: 180, PriceKRW: 15000, PerBuyerLimit: &limit}},
		{`{"theater_name":"CGV 강남","movie_title":"파묘","starts_at":"2026-12-24T19:30:00+09:00","capacity":180,"price_krw":15000,"per_buyer_limit":null}`,
			domain.ShowingScheduled{TheaterName: "CGV 강남", MovieTitle: "파묘", StartsAt: "2026-12-24T19:30:00+09:00", Capacity: 180, PriceKRW: 15000}},
		{`{"hold_id":"h","user_id":"u","quantity":2,"expires_at":"2026-12-05T10:10:00.123456Z"}`,
			domain.SeatsHeld{HoldID: "h", UserID: "u", Quantity: 2, ExpiresAt: expires}},
		{`{"hold_id":"h"}`, domain.HoldReleased{HoldID: "h"}},
		{`{"hold_id":"h"}`, domain.HoldExpired{HoldID: "h"}},
		{`{"theater_name":"CGV 강남","user_id":"u","movie_title":"m","price_krw":15000,"memo":null,"showing_id":"s","hold_id":"h"}`,
			domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000, ShowingID: ptr("s"), HoldID: ptr("h")}},
	} {
		got, err := domain.DecodeEvent(c.want.EventType(), []byte(c.data))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %#v, %v; want %#v", c.want.EventType(), got, err, c.want)
		}
		if b, err := json.Marshal(c.want); err != nil || string(b) != c.data {
			t.Errorf("%s encodes as %s, %v; want %s", c.want.EventType(), b, err, c.data)
		}
	}
	for _, bad := range []struct{ typ, data string }{
		{"TicketEaten", `{}`},
		{"TicketIssued", `{"price_krw":"15000"}`},
		{"TicketRefunded", `[`},
	} {
		if e, err := domain.DecodeEvent(bad.typ, []byte(bad.data)); err == nil {
			t.Errorf("DecodeEvent(%s, %s) = %#v, want an error", bad.typ, bad.data, e)
		}
	}
}

// TestDataFieldsHaveOneKindPerName lists the data members exports make
// columns of; it fails to start at all (a panic) when two declared types
// give one name two kinds.
func TestDataFieldsHaveOneKindPerName(t *testing.T) {
	issued, refunded, scheduled, held := []string{"TicketIssued"}, []string{"TicketRefunded"}, []string{"ShowingScheduled"}, []string{"SeatsHeld"}
	want := []domain.DataField{
		{Name: "theater_name", Kind: domain.KindString, Types: []string{"TicketIssued", "ShowingScheduled"}},
		{Name: "user_id", Kind: domain.KindString, Types: []string{"TicketIssued", "SeatsHeld"}},
		{Name: "movie_title", Kind: domain.KindString, Types: []string{"TicketIssued", "ShowingScheduled"}},
		{Name: "price_krw", Kind: domain.KindInt, Types: []string{"TicketIssued", "ShowingScheduled"}},
		{Name: "memo", Kind: domain.KindString, Types: issued},
		{Name: "showing_id", Kind: domain.KindString, Types: issued},
		{Name: "hold_id", Kind: domain.KindString, Types: []string{"TicketIssued", "SeatsHeld", "HoldReleased", "HoldExpired"}},
		{Name: "reason", Kind: domain.KindString, Types: refunded},
		{Name: "starts_at", Kind: domain.KindString, Types: scheduled},
		{Name: "capacity", Kind: domain.KindInt, Types: scheduled},
		{Name: "per_buyer_limit", Kind: domain.KindInt, Types: scheduled},
		{Name: "quantity", Kind: domain.KindInt, Types: held},
		{Name: "expires_at", Kind: domain.KindTime, Types: held},
	}
	if got := domain.DataFields(); !reflect.DeepEqual(got, want) {
		t.Errorf("DataFields() = %+v, want %+v", got, want)
	}
	fields := domain.DataFields()
	fields[0].Types[0] = "changed"
	if domain.DataFields()[0].Types[0] != "TicketIssued" {
		t.Error("DataFields returns the declarations themselves, not a copy")
	}
}

func TestDataValuesGivesEveryNonNullMember(t *testing.T) {
	collect := func(e domain.Event) map[string]any {
		fields := domain.DataFields()
		got := map[string]any{}
		domain.DataValues(e, func(i int, v any) { got[fields[i].Name] = v })
		return got
	}
	issued := domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000, Memo: ptr("VIP석")}
	if got, want := collect(issued), map[string]any{"theater_name": "CGV 강남", "user_id": "u", "movie_title": "m", "price_krw": int64(15000), "memo": "VIP석"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TicketIssued: %v, want %v", got, want)
	}
	issued.Memo = nil
	if _, ok := collect(issued)["memo"]; ok {
		t.Error("a nil memo is given as a value")
	}
	if got := collect(domain.TicketRefunded{}); len(got) != 0 {
		t.Errorf("TicketRefunded without a reason: %v, want nothing", got)
	}
}

// TestTicketIssuedOfEarlierVersionsReadsAndEncodesAsStored: events written
// before showings existed carry no showing_id or hold_id; they read as nil
// and encode byte for byte as stored.
func TestTicketIssuedOfEarlierVersionsReadsAndEncodesAsStored(t *testing.T) {
	stored := `{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"memo":"VIP석"}`
	e, err := domain.DecodeEvent("TicketIssued", []byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	issued := e.(domain.TicketIssued)
	if issued.ShowingID != nil || issued.HoldID != nil {
		t.Errorf("an earlier TicketIssued reads with showing %v, hold %v; want nil", issued.ShowingID, issued.HoldID)
	}
	if b, err := json.Marshal(issued); err != nil || string(b) != stored {
		t.Errorf("encodes as %s, %v; want %s", b, err, stored)
	}
}
