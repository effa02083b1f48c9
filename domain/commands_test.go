package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
)

func ptr(s string) *string { return &s }

func validIssue() domain.IssueTickets {
	return domain.IssueTickets{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Quantity: 2, Memo: ptr("VIP석")}
}

func fieldsOf(err error) []string {
	var names []string
	for _, f := range domain.FieldErrors(err) {
		names = append(names, f.Field)
	}
	return names
}

func TestIssueTicketsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*domain.IssueTickets)
		fields []string
	}{
		{"valid", func(*domain.IssueTickets) {}, nil},
		{"theater name of 100 Korean characters", func(c *domain.IssueTickets) { c.TheaterName = strings.Repeat("강", 100) }, nil},
		{"theater name of 101 characters", func(c *domain.IssueTickets) { c.TheaterName = strings.Repeat("강", 101) }, []string{"theater_name"}},
		{"empty theater name", func(c *domain.IssueTickets) { c.TheaterName = "" }, []string{"theater_name"}},
		{"blank theater name", func(c *domain.IssueTickets) { c.TheaterName = " \t\u3000" }, []string{"theater_name"}},
		{"theater name kept with spaces", func(c *domain.IssueTickets) { c.TheaterName = "  CGV  " }, nil},
		{"user id of 100", func(c *domain.IssueTickets) { c.UserID = strings.Repeat("u", 100) }, nil},
		{"user id of 101", func(c *domain.IssueTickets) { c.UserID = strings.Repeat("u", 101) }, []string{"user_id"}},
		{"blank user id", func(c *domain.IssueTickets) { c.UserID = "   " }, []string{"user_id"}},
		{"movie title of 200", func(c *domain.IssueTickets) { c.MovieTitle = strings.Repeat("영", 200) }, nil},
		{"movie title of 201", func(c *domain.IssueTickets) { c.MovieTitle = strings.Repeat("영", 201) }, []string{"movie_title"}},
		{"price 1", func(c *domain.IssueTickets) { c.PriceKRW = 1 }, nil},
		{"price 1000000", func(c *domain.IssueTickets) { c.PriceKRW = 1_000_000 }, nil},
		{"price 0", func(c *domain.IssueTickets) { c.PriceKRW = 0 }, []string{"price_krw"}},
		{"price 1000001", func(c *domain.IssueTickets) { c.PriceKRW = 1_000_001 }, []string{"price_krw"}},
		{"negative price", func(c *domain.IssueTickets) { c.PriceKRW = -5 }, []string{"price_krw"}},
		{"quantity 1", func(c *domain.IssueTickets) { c.Quantity = 1 }, nil},
		{"quantity 10", func(c *domain.IssueTickets) { c.Quantity = 10 }, nil},
		{"quantity 0", func(c *domain.IssueTickets) { c.Quantity = 0 }, []string{"quantity"}},
		{"quantity 11", func(c *domain.IssueTickets) { c.Quantity = 11 }, []string{"quantity"}},
		{"no memo", func(c *domain.IssueTickets) { c.Memo = nil }, nil},
		{"empty memo", func(c *domain.IssueTickets) { c.Memo = ptr("") }, nil},
		{"memo of 1000", func(c *domain.IssueTickets) { c.Memo = ptr(strings.Repeat("메", 1000)) }, nil},
		{"memo of 1001", func(c *domain.IssueTickets) { c.Memo = ptr(strings.Repeat("메", 1001)) }, []string{"memo"}},
		{"NUL in every text", func(c *domain.IssueTickets) {
			c.TheaterName, c.UserID, c.MovieTitle, c.Memo = "CGV\x00", "\x00u", "a\x00b", ptr("\x00")
		}, []string{"theater_name", "user_id", "movie_title", "memo"}},
		{"every field wrong", func(c *domain.IssueTickets) {
			*c = domain.IssueTickets{PriceKRW: 0, Quantity: 99, Memo: ptr(strings.Repeat("x", 1001))}
		}, []string{"theater_name", "user_id", "movie_title", "price_krw", "quantity", "memo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validIssue()
			tt.change(&c)
			err := c.Validate()
			if got := fieldsOf(err); !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("fields = %v, want %v (err %v)", got, tt.fields, err)
			}
			if err != nil && domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("code = %s, want invalid", domain.ErrorCode(err))
			}
		})
	}
}

func TestIssueCreatesOneEventPerTicket(t *testing.T) {
	n := 0
	ids := []uuid.UUID{uuid.MustParse("0193a000-0000-7000-8000-000000000001"), uuid.MustParse("0193a000-0000-7000-8000-000000000002")}
	tickets, err := domain.Issue(validIssue(), func() uuid.UUID { n++; return ids[n-1] })
	if err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 2 || tickets[0].ID != ids[0].String() || tickets[1].ID != ids[1].String() {
		t.Fatalf("tickets = %+v", tickets)
	}
	want := domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목", PriceKRW: 15000, Memo: ptr("VIP석")}
	for _, tk := range tickets {
		if !reflect.DeepEqual(tk.Event, want) {
			t.Fatalf("event = %+v, want %+v", tk.Event, want)
		}
	}
}

func TestIssueRejectsInvalidCommand(t *testing.T) {
	c := validIssue()
	c.Quantity = 0
	if _, err := domain.Issue(c, uuid.New); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("err = %v, want invalid", err)
	}
}

func TestRefundTicketsValidate(t *testing.T) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = "id"
	}
	tests := []struct {
		name   string
		cmd    domain.RefundTickets
		fields []string
	}{
		{"one id", domain.RefundTickets{TicketIDs: []string{"a"}}, nil},
		{"1000 ids", domain.RefundTickets{TicketIDs: many[:1000]}, nil},
		{"1001 ids", domain.RefundTickets{TicketIDs: many}, []string{"ticket_ids"}},
		{"no ids", domain.RefundTickets{TicketIDs: []string{}}, []string{"ticket_ids"}},
		{"nil ids", domain.RefundTickets{}, []string{"ticket_ids"}},
		{"empty id", domain.RefundTickets{TicketIDs: []string{"a", ""}}, []string{"ticket_ids"}},
		{"reason of 500", domain.RefundTickets{TicketIDs: []string{"a"}, Reason: ptr(strings.Repeat("고", 500))}, nil},
		{"reason of 501", domain.RefundTickets{TicketIDs: []string{"a"}, Reason: ptr(strings.Repeat("고", 501))}, []string{"reason"}},
		{"NUL in reason", domain.RefundTickets{TicketIDs: []string{"a"}, Reason: ptr("r\x00")}, []string{"reason"}},
		{"NUL in an id is a malformed id, not found later", domain.RefundTickets{TicketIDs: []string{"a\x00"}}, nil},
		{"both wrong", domain.RefundTickets{Reason: ptr(strings.Repeat("r", 501))}, []string{"ticket_ids", "reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldsOf(tt.cmd.Validate()); !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func issuedTicket(id string) domain.Ticket {
	return domain.Evolve(domain.Ticket{}, id, domain.TicketIssued{TheaterName: "t", UserID: "u", MovieTitle: "m", PriceKRW: 1}, time.Now())
}

func TestRefundSortsEveryDistinctIDIntoOneList(t *testing.T) {
	canceled := domain.Evolve(issuedTicket("c"), "c", domain.TicketRefunded{}, time.Now())
	state := map[string]domain.Ticket{"a": issuedTicket("a"), "b": issuedTicket("b"), "c": canceled}
	d, err := domain.Refund(domain.RefundTickets{TicketIDs: []string{"x", "b", "c", "a", "b", "x", "c"}, Reason: ptr("고객 요청")}, state)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "a"}; !reflect.DeepEqual(d.Refunded, want) {
		t.Errorf("refunded = %v, want %v", d.Refunded, want)
	}
	if want := []string{"c"}; !reflect.DeepEqual(d.AlreadyCanceled, want) {
		t.Errorf("already canceled = %v, want %v", d.AlreadyCanceled, want)
	}
	if want := []string{"x"}; !reflect.DeepEqual(d.NotFound, want) {
		t.Errorf("not found = %v, want %v", d.NotFound, want)
	}
	if len(d.Events) != 2 || *d.Events[0].Reason != "고객 요청" {
		t.Errorf("events = %+v", d.Events)
	}
}

func TestRefundWithNothingToDoHasEmptyListsNotNil(t *testing.T) {
	d, err := domain.Refund(domain.RefundTickets{TicketIDs: []string{"nope"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Refunded == nil || d.AlreadyCanceled == nil || len(d.NotFound) != 1 || len(d.Events) != 0 {
		t.Fatalf("decision = %+v", d)
	}
}

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
