package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
)

func TestEvolveFoldsIssueThenRefund(t *testing.T) {
	issuedAt := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	refundedAt := issuedAt.Add(time.Hour)
	tk := domain.Evolve(domain.Ticket{}, "id1", domain.TicketIssued{TheaterName: "CGV", UserID: "u", MovieTitle: "m", PriceKRW: 15000, Memo: ptr("memo")}, issuedAt)
	if !tk.Exists() || tk.Status != domain.StatusIssued || tk.Version != 1 || !tk.IssuedAt.Equal(issuedAt) || tk.CanceledAt != nil {
		t.Fatalf("after issue: %+v", tk)
	}
	tk = domain.Evolve(tk, "id1", domain.TicketRefunded{Reason: ptr("r")}, refundedAt)
	if tk.Status != domain.StatusCanceled || tk.Version != 2 || tk.CanceledAt == nil || !tk.CanceledAt.Equal(refundedAt) || *tk.Memo != "memo" {
		t.Fatalf("after refund: %+v", tk)
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	for _, e := range []domain.Event{
		domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 3, Memo: nil},
		domain.TicketRefunded{Reason: ptr("why")},
	} {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := domain.DecodeEvent(e.EventType(), data)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("DecodeEvent = %+v, %v; want %+v", got, err, e)
		}
	}
	if _, err := domain.DecodeEvent("Bogus", []byte(`{}`)); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := domain.DecodeEvent(domain.TypeTicketIssued, []byte(`{"price_krw":"x"}`)); err == nil {
		t.Fatal("bad data decoded")
	}
}

func TestErrorCodeOfWrappedAndForeignErrors(t *testing.T) {
	wrapped := fmt.Errorf("context: %w", domain.Errorf(domain.CodeNotFound, "gone"))
	if domain.ErrorCode(wrapped) != domain.CodeNotFound {
		t.Fatalf("wrapped code = %s", domain.ErrorCode(wrapped))
	}
	errPlain := errors.New("sql: no such table: secrets")
	if domain.ErrorCode(errPlain) != domain.CodeInternal || domain.ErrorMessage(errPlain) == errPlain.Error() {
		t.Fatal("a foreign error must be internal and must not leak its text")
	}
	if domain.ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
}

func TestOnlyCanonicalUUIDsAreTicketIDs(t *testing.T) {
	for id, want := range map[string]bool{
		"0193a000-0000-7000-8000-000000000001":          true,
		"0193A000-0000-7000-8000-000000000001":          false,
		"{0193a000-0000-7000-8000-000000000001}":        false,
		"urn:uuid:0193a000-0000-7000-8000-000000000001": false,
		"0193a00000007000800000000000000001":            false,
		"0193a000000070008000000000000001":              false,
		"0193a000-0000-7000-8000-00000000000\x00":       false,
		"not-a-uuid": false,
		"":           false,
	} {
		if got := domain.IsTicketID(id); got != want {
			t.Errorf("IsTicketID(%q) = %t, want %t", id, got, want)
		}
	}
}
