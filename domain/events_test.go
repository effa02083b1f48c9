package domain_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/ticketd/ticketd/domain"
)

func TestEventTypesAreTheDeclaredOnes(t *testing.T) {
	if want := []string{"TicketIssued", "TicketRefunded"}; !slices.Equal(domain.EventTypes, want) {
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
	issued, refunded := []string{"TicketIssued"}, []string{"TicketRefunded"}
	want := []domain.DataField{
		{Name: "theater_name", Kind: domain.KindString, Types: issued},
		{Name: "user_id", Kind: domain.KindString, Types: issued},
		{Name: "movie_title", Kind: domain.KindString, Types: issued},
		{Name: "price_krw", Kind: domain.KindInt, Types: issued},
		{Name: "memo", Kind: domain.KindString, Types: issued},
		{Name: "reason", Kind: domain.KindString, Types: refunded},
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
