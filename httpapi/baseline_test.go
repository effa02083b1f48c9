package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The benchmark's ratios mean something only while the baseline answers what
// the API answers: a 201 with the issue body, and a ticket.
func TestBaselineAnswersIssueAndGetAsTheAPIDoes(t *testing.T) {
	baseline := NewBaseline()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/tickets/issue", strings.NewReader(
		`{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"quantity":2}`))
	req.Header.Set("Content-Type", "application/json")
	baseline.ServeHTTP(rec, req)
	var issued struct {
		TicketIDs []string `json:"ticket_ids"`
		Count     int      `json:"count"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &issued); rec.Code != http.StatusCreated || err != nil || issued.Count != 2 || len(issued.TicketIDs) != 2 {
		t.Fatalf("baseline POST /tickets/issue = %d %s, want 201 with 2 ticket ids", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	baseline.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tickets/"+issued.TicketIDs[0], nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":"`+issued.TicketIDs[0]+`"`) {
		t.Fatalf("baseline GET /tickets/{id} = %d %s, want 200 with that ticket", rec.Code, rec.Body)
	}
}
