package service_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file probe ../shared/docs/api-contract.md rule by rule
// over real HTTP against a real service on a real SQLite file.

var timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func TestRootAnswersOK(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		r := c.Do("GET", "/", nil)
		if r.Status != 200 || r.JSON(t)["status"] != "ok" || r.JSON(t)["message"] == "" {
			t.Fatalf("GET / = %d %s", r.Status, r.Body)
		}
	})
}

func TestSeedExamplesWork(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", "unique-key-123")
		if r.Status != http.StatusCreated {
			t.Fatalf("issue = %d %s", r.Status, r.Body)
		}
		body := r.JSON(t)
		ids := body["ticket_ids"].([]any)
		if len(ids) != 2 || ids[0] == ids[1] || body["count"] != float64(2) {
			t.Fatalf("issue body = %s", r.Body)
		}
		for _, id := range ids {
			if u, err := uuid.Parse(id.(string)); err != nil || u.Version() != 7 {
				t.Fatalf("ticket id %v is not a UUIDv7", id)
			}
		}
		wantSummary := map[string]any{"theater_name": "CGV 강남", "movie_title": "영화 제목", "price_krw": float64(15000)}
		if !reflect.DeepEqual(body["summary"], wantSummary) {
			t.Fatalf("summary = %v", body["summary"])
		}
		if loc := r.Header.Get("Location"); loc != "/tickets/"+ids[0].(string) {
			t.Fatalf("Location = %q", loc)
		}

		first, second := ids[0].(string), ids[1].(string)
		r = c.Do("GET", "/tickets/"+first, nil)
		ticket := r.JSON(t)
		if r.Status != 200 || ticket["id"] != first || ticket["theater_name"] != "CGV 강남" || ticket["user_id"] != "user123" ||
			ticket["movie_title"] != "영화 제목" || ticket["price_krw"] != float64(15000) || ticket["status"] != "issued" ||
			ticket["memo"] != "VIP석" || ticket["canceled_at"] != nil || !timeFormat.MatchString(ticket["issued_at"].(string)) {
			t.Fatalf("GET ticket = %d %s", r.Status, r.Body)
		}
		if _, ok := ticket["canceled_at"]; !ok {
			t.Fatal("canceled_at must be present (null)")
		}

		r = c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{first}, "reason": "고객 요청"})
		if r.Status != 200 || string(r.Body) != fmt.Sprintf(`{"refunded":["%s"],"already_canceled":[],"not_found":[]}`, first) {
			t.Fatalf("refund = %d %s", r.Status, r.Body)
		}
		r = c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{first, second}, "reason": "고객 요청"})
		if r.Status != 200 || string(r.Body) != fmt.Sprintf(`{"refunded":["%s"],"already_canceled":["%s"],"not_found":[]}`, second, first) {
			t.Fatalf("second refund = %d %s", r.Status, r.Body)
		}
		ticket = c.Do("GET", "/tickets/"+first, nil).JSON(t)
		if ticket["status"] != "canceled" || !timeFormat.MatchString(fmt.Sprint(ticket["canceled_at"])) {
			t.Fatalf("refunded ticket = %v", ticket)
		}

		r = c.Do("GET", "/tickets?theater_name="+url.QueryEscape("CGV 강남")+"&status=canceled&limit=10&offset=0", nil)
		list := r.JSON(t)
		if r.Status != 200 || list["total"] != float64(2) || list["limit"] != float64(10) || list["offset"] != float64(0) || len(list["tickets"].([]any)) != 2 {
			t.Fatalf("list = %d %s", r.Status, r.Body)
		}
	})
}

func TestIssueValidationNamesEveryFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		long := func(n int) string { return strings.Repeat("가", n) }
		tests := []struct {
			name   string
			body   any
			fields []string
		}{
			{"missing everything", map[string]any{}, []string{"movie_title", "price_krw", "theater_name", "user_id"}},
			{"theater name too long", servicetest.With(servicetest.SeedIssue, "theater_name", long(101)), []string{"theater_name"}},
			{"user id too long", servicetest.With(servicetest.SeedIssue, "user_id", long(101)), []string{"user_id"}},
			{"movie title too long", servicetest.With(servicetest.SeedIssue, "movie_title", long(201)), []string{"movie_title"}},
			{"memo too long", servicetest.With(servicetest.SeedIssue, "memo", long(1001)), []string{"memo"}},
			{"blank strings", servicetest.With(servicetest.SeedIssue, "theater_name", "   ", "user_id", "", "movie_title", "\t"), []string{"movie_title", "theater_name", "user_id"}},
			{"price zero", servicetest.With(servicetest.SeedIssue, "price_krw", 0), []string{"price_krw"}},
			{"price too high", servicetest.With(servicetest.SeedIssue, "price_krw", 1000001), []string{"price_krw"}},
			{"price fraction", `{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":1.5}`, []string{"price_krw"}},
			{"price with .0", `{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":15000.0}`, []string{"price_krw"}},
			{"price exponent", `{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":1e3}`, []string{"price_krw"}},
			{"price string", servicetest.With(servicetest.SeedIssue, "price_krw", "15000"), []string{"price_krw"}},
			{"price huge", `{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":123456789012345678901234567890}`, []string{"price_krw"}},
			{"price null", servicetest.With(servicetest.SeedIssue, "price_krw", nil), []string{"price_krw"}},
			{"quantity zero", servicetest.With(servicetest.SeedIssue, "quantity", 0), []string{"quantity"}},
			{"quantity eleven", servicetest.With(servicetest.SeedIssue, "quantity", 11), []string{"quantity"}},
			{"quantity fraction", `{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":1,"quantity":2.5}`, []string{"quantity"}},
			{"quantity string", servicetest.With(servicetest.SeedIssue, "quantity", "2"), []string{"quantity"}},
			{"wrong types", servicetest.With(servicetest.SeedIssue, "theater_name", 5, "user_id", true, "movie_title", []int{1}, "memo", 3), []string{"memo", "movie_title", "theater_name", "user_id"}},
			{"malformed JSON", `{"theater_name": "a",`, []string{"body"}},
			{"not an object", `[1,2]`, []string{"body"}},
			{"empty body", ``, []string{"body"}},
			{"two objects", `{} {}`, []string{"body"}},
			{"duplicate key", `{"theater_name":"a","theater_name":"b","user_id":"u","movie_title":"m","price_krw":1}`, []string{"theater_name"}},
			{"invalid UTF-8", "{\"theater_name\":\"\xff\xfe\",\"user_id\":\"u\",\"movie_title\":\"m\",\"price_krw\":1}", []string{"theater_name"}},
		}
		for _, tt := range tests {
			r := c.Do("POST", "/tickets/issue", tt.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400: %s", tt.name, r.Status, r.Body)
				continue
			}
			if got := servicetest.ProblemFields(t, r); !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("%s: errors name %v, want %v", tt.name, got, tt.fields)
			}
		}
		r := c.Do("POST", "/tickets/issue", servicetest.With(servicetest.SeedIssue, "price_krw", 0), "Idempotency-Key", "")
		if got := servicetest.ProblemFields(t, r); !reflect.DeepEqual(got, []string{"Idempotency-Key", "price_krw"}) {
			t.Errorf("header and body errors together: %v", got)
		}
		if n := c.LogHead(); n != 0 {
			t.Fatalf("invalid requests appended %d events", n)
		}
	})
}

func TestIssueAcceptsBoundariesUnknownFieldsAndDefaults(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		body := map[string]any{
			"theater_name": strings.Repeat("강", 100), "user_id": strings.Repeat("u", 100), "movie_title": strings.Repeat("영", 200),
			"price_krw": 1000000, "memo": strings.Repeat("메", 1000), "seat": "A1", "extra": map[string]any{"nested": true},
		}
		ids := c.IssueOK(body)
		if len(ids) != 1 {
			t.Fatalf("default quantity gave %d tickets", len(ids))
		}
		ids = c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 10, "memo", nil, "theater_name", "  CGV  "))
		if len(ids) != 10 {
			t.Fatalf("quantity 10 gave %d", len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
		tk := c.Do("GET", "/tickets/"+ids[9], nil).JSON(t)
		if tk["memo"] != nil || tk["theater_name"] != "  CGV  " {
			t.Fatalf("ticket = %v (memo must be null, strings stored as sent)", tk)
		}
	})
}

func TestIssueIsAtomicAndInIssueOrder(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
		r := c.Do("GET", "/events", nil)
		events := r.JSON(t)["events"].([]any)
		if len(events) != 3 {
			t.Fatalf("%d events for a quantity-3 issue", len(events))
		}
		for i, e := range events {
			ev := e.(map[string]any)
			if ev["stream_id"] != ids[i] || ev["position"] != float64(i+1) || ev["version"] != float64(1) || ev["type"] != "TicketIssued" {
				t.Fatalf("event %d = %v", i, ev)
			}
		}
		list := c.Do("GET", "/tickets", nil).JSON(t)["tickets"].([]any)
		for i, tk := range list {
			if tk.(map[string]any)["id"] != ids[i] {
				t.Fatalf("list order differs from issue order at %d", i)
			}
		}
	})
}

func TestBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		big := fmt.Sprintf(`{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":1,"memo":"%s"}`, strings.Repeat("x", 64<<10))
		for _, path := range []string{"/tickets/issue", "/tickets/refund"} {
			if r := c.Do("POST", path, big); r.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s: %d, want 413", path, r.Status)
			}
		}
		if c.LogHead() != 0 {
			t.Fatal("an oversized request appended events")
		}
	})
}

func TestRefundRules(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3))
		a, b, cc := ids[0], ids[1], ids[2]
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{b}})
		r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{"not-a-uuid", b, a, a, uuid.NewString(), "not-a-uuid", cc}})
		want := fmt.Sprintf(`{"refunded":["%s","%s"],"already_canceled":["%s"],"not_found":["not-a-uuid","%s"]}`, a, cc, b, "")
		got := r.JSON(t)
		if r.Status != 200 || len(got["not_found"].([]any)) != 2 || got["not_found"].([]any)[0] != "not-a-uuid" ||
			!reflect.DeepEqual(got["refunded"], []any{a, cc}) || !reflect.DeepEqual(got["already_canceled"], []any{b}) {
			t.Fatalf("refund = %d %s, want like %s", r.Status, r.Body, want)
		}
		events := c.Do("GET", "/tickets/"+a+"/events", nil).JSON(t)["events"].([]any)
		if len(events) != 2 || events[1].(map[string]any)["data"].(map[string]any)["reason"] != nil {
			t.Fatalf("refund events of a = %v (reason must be null)", events)
		}

		head := c.LogHead()
		for name, body := range map[string]any{
			"empty id":         map[string]any{"ticket_ids": []string{a, ""}},
			"no ids":           map[string]any{"ticket_ids": []string{}},
			"missing ids":      map[string]any{"reason": "x"},
			"ids not an array": map[string]any{"ticket_ids": a},
			"non-string id":    map[string]any{"ticket_ids": []any{1}},
			"too many ids":     map[string]any{"ticket_ids": make([]string, 1001)},
		} {
			r := c.Do("POST", "/tickets/refund", body)
			if r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{"ticket_ids"}) {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		r = c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{a}, "reason": strings.Repeat("이", 501)})
		if r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{"reason"}) {
			t.Errorf("long reason: %d %s", r.Status, r.Body)
		}
		if c.LogHead() != head {
			t.Fatal("invalid refunds appended events")
		}
	})
}

func TestConcurrentRefundsOfOneTicketRefundItOnce(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		id := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1))[0]
		const clients = 16
		results := make([]map[string]any, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{id}, "reason": fmt.Sprint("client ", i)})
				if r.Status == 200 {
					results[i] = r.JSON(t)
				}
			}(i)
		}
		wg.Wait()
		refunded, already := 0, 0
		for _, res := range results {
			if res == nil {
				t.Fatal("a refund failed")
			}
			refunded += len(res["refunded"].([]any))
			already += len(res["already_canceled"].([]any))
		}
		if refunded != 1 || already != clients-1 {
			t.Fatalf("refunded %d times, already_canceled %d; want 1 and %d", refunded, already, clients-1)
		}
		if events := c.Do("GET", "/tickets/"+id+"/events", nil).JSON(t)["events"].([]any); len(events) != 2 {
			t.Fatalf("%d events in the ticket's stream, want 2", len(events))
		}
	})
}

func TestGetTicketNotFound(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		for _, id := range []string{uuid.NewString(), "not-a-uuid", "'; DROP TABLE tickets; --"} {
			r := c.Do("GET", "/tickets/"+url.PathEscape(id), nil)
			if r.Status != 404 || r.JSON(t)["status"] != float64(404) {
				t.Fatalf("GET %q = %d %s", id, r.Status, r.Body)
			}
			if r := c.Do("GET", "/tickets/"+url.PathEscape(id)+"/events", nil); r.Status != 404 {
				t.Fatalf("GET events of %q = %d", id, r.Status)
			}
		}
		if r := c.Do("GET", "/nope", nil); r.Status != 404 {
			t.Fatalf("unknown route = %d", r.Status)
		}
		if r := c.Do("DELETE", "/tickets", nil); r.Status != 405 {
			t.Fatalf("wrong method = %d", r.Status)
		}
	})
}

func TestListFiltersPagingAndValidation(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		gangnam := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 3, "user_id", "alice"))
		yongsan := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2, "theater_name", "CGV 용산", "user_id", "bob", "movie_title", "다른 영화"))
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{gangnam[1], yongsan[0]}})
		all := append(append([]string{}, gangnam...), yongsan...)

		ids := func(r servicetest.Response) []string {
			var out []string
			for _, tk := range r.JSON(t)["tickets"].([]any) {
				out = append(out, tk.(map[string]any)["id"].(string))
			}
			return out
		}
		tests := []struct {
			query        string
			total, limit int
			offset       int
			want         []string
		}{
			{"", 5, 100, 0, all},
			{"?theater_name=&user_id=&movie_title=&status=&limit=&offset=", 5, 100, 0, all},
			{"?theater_name=" + url.QueryEscape("CGV 용산"), 2, 100, 0, yongsan},
			{"?user_id=alice&status=issued", 2, 100, 0, []string{gangnam[0], gangnam[2]}},
			{"?movie_title=" + url.QueryEscape("다른 영화") + "&status=canceled", 1, 100, 0, []string{yongsan[0]}},
			{"?status=canceled", 2, 100, 0, []string{gangnam[1], yongsan[0]}},
			{"?limit=2", 5, 2, 0, all[:2]},
			{"?limit=2&offset=2", 5, 2, 2, all[2:4]},
			{"?limit=2&offset=4", 5, 2, 4, all[4:]},
			{"?offset=5", 5, 100, 5, nil},
			{"?limit=1000", 5, 1000, 0, all},
			{"?theater_name=" + url.QueryEscape("' OR '1'='1"), 0, 100, 0, nil},
			{"?user_id=" + url.QueryEscape("alice%"), 0, 100, 0, nil},
		}
		for _, tt := range tests {
			r := c.Do("GET", "/tickets"+tt.query, nil)
			body := r.JSON(t)
			if r.Status != 200 || body["total"] != float64(tt.total) || body["limit"] != float64(tt.limit) || body["offset"] != float64(tt.offset) {
				t.Errorf("GET /tickets%s = %d %s", tt.query, r.Status, r.Body)
				continue
			}
			if got := ids(r); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("GET /tickets%s ids = %v, want %v", tt.query, got, tt.want)
			}
		}
		for query, fields := range map[string][]string{
			"?status=bogus":               {"status"},
			"?status=ISSUED":              {"status"},
			"?limit=0":                    {"limit"},
			"?limit=1001":                 {"limit"},
			"?limit=abc":                  {"limit"},
			"?limit=1.5":                  {"limit"},
			"?offset=-1":                  {"offset"},
			"?offset=x":                   {"offset"},
			"?limit=0&offset=-1&status=x": {"limit", "offset", "status"},
		} {
			r := c.Do("GET", "/tickets"+query, nil)
			if r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), fields) {
				t.Errorf("GET /tickets%s = %d %s, want 400 naming %v", query, r.Status, r.Body, fields)
			}
		}
	})
}

func TestEventLogEndpoints(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 2), "Idempotency-Key", "k-events", "X-Request-ID", "req-abc", "X-Correlation-ID", "corr-xyz")
		c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{ids[0]}, "reason": "고객 요청"}, "X-Request-ID", "req-def")

		stream := c.Do("GET", "/tickets/"+ids[0]+"/events", nil).JSON(t)["events"].([]any)
		if len(stream) != 2 {
			t.Fatalf("stream = %v", stream)
		}
		issued, refunded := stream[0].(map[string]any), stream[1].(map[string]any)
		wantData := map[string]any{"theater_name": "CGV 강남", "user_id": "user123", "movie_title": "영화 제목", "price_krw": float64(15000), "memo": "VIP석"}
		if issued["type"] != "TicketIssued" || issued["version"] != float64(1) || issued["position"] != float64(1) || !reflect.DeepEqual(issued["data"], wantData) {
			t.Fatalf("issued event = %v", issued)
		}
		if md := issued["metadata"].(map[string]any); md["request_id"] != "req-abc" || md["correlation_id"] != "corr-xyz" || md["idempotency_key"] != "k-events" {
			t.Fatalf("issued metadata = %v", md)
		}
		if refunded["type"] != "TicketRefunded" || refunded["version"] != float64(2) || refunded["position"] != float64(3) ||
			!reflect.DeepEqual(refunded["data"], map[string]any{"reason": "고객 요청"}) || !timeFormat.MatchString(refunded["occurred_at"].(string)) {
			t.Fatalf("refunded event = %v", refunded)
		}
		if md := refunded["metadata"].(map[string]any); md["request_id"] != "req-def" || md["correlation_id"] != "req-def" {
			t.Fatalf("refund metadata = %v (correlation id defaults to the request id)", md)
		}

		tests := []struct {
			query     string
			positions []float64
			next      float64
		}{
			{"", []float64{1, 2, 3}, 3},
			{"?after=1", []float64{2, 3}, 3},
			{"?after=1&limit=1", []float64{2}, 2},
			{"?after=3", nil, 3},
			{"?after=99", nil, 99},
			{"?type=TicketRefunded", []float64{3}, 3},
			{"?type=TicketIssued&limit=1&after=1", []float64{2}, 2},
			{"?after=&limit=&type=", []float64{1, 2, 3}, 3},
		}
		for _, tt := range tests {
			r := c.Do("GET", "/events"+tt.query, nil)
			body := r.JSON(t)
			var got []float64
			for _, e := range body["events"].([]any) {
				got = append(got, e.(map[string]any)["position"].(float64))
			}
			if r.Status != 200 || !reflect.DeepEqual(got, tt.positions) || body["next_after"] != tt.next {
				t.Errorf("GET /events%s = %d positions %v next %v, want %v next %v", tt.query, r.Status, got, body["next_after"], tt.positions, tt.next)
			}
		}
		for query, fields := range map[string][]string{
			"?after=-1": {"after"}, "?after=x": {"after"}, "?limit=0": {"limit"}, "?limit=1001": {"limit"},
			"?type=Bogus": {"type"}, "?after=-1&limit=0&type=x": {"after", "limit", "type"},
		} {
			r := c.Do("GET", "/events"+query, nil)
			if r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), fields) {
				t.Errorf("GET /events%s = %d %s", query, r.Status, r.Body)
			}
		}
	})
}

func TestRequestIDIsEchoedOrGenerated(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		if r := c.Do("GET", "/", nil, "X-Request-ID", "my-request-42"); r.Header.Get("X-Request-ID") != "my-request-42" {
			t.Fatalf("X-Request-ID = %q, want echo", r.Header.Get("X-Request-ID"))
		}
		a, b := c.Do("GET", "/", nil).Header.Get("X-Request-ID"), c.Do("GET", "/", nil).Header.Get("X-Request-ID")
		if a == "" || a == b {
			t.Fatalf("generated request ids %q, %q", a, b)
		}
		r := c.Do("GET", "/tickets/none", nil, "X-Request-ID", "req-404")
		if r.JSON(t)["request_id"] != "req-404" {
			t.Fatalf("problem does not carry the request id: %s", r.Body)
		}
	})
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngineAndClusterNode(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		for i := 0; i < 30; i++ {
			ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1, "user_id", fmt.Sprint("ryw-", i)))
			if r := c.Do("GET", "/tickets/"+ids[0], nil); r.Status != 200 {
				t.Fatalf("ticket %s not visible right after its 201", ids[0])
			}
			if list := c.Do("GET", "/tickets?user_id="+fmt.Sprint("ryw-", i), nil).JSON(t); list["total"] != float64(1) {
				t.Fatalf("list does not reflect the issue: %v", list)
			}
			c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids})
			if tk := c.Do("GET", "/tickets/"+ids[0], nil).JSON(t); tk["status"] != "canceled" {
				t.Fatalf("refund not visible right after its 200: %v", tk)
			}
		}
	})
}
