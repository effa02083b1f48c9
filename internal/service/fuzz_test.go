package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The fuzz targets in this file send hostile input through the service's real
// handler (in process, see newHandlerClient) backed by a real SQLite file;
// each starts one service and reuses it for every input. apiClient.do checks
// every answer against the OpenAPI document, that it has an X-Request-ID
// and that errors are application/problem+json.

// FuzzIssueBody: any body sent to POST /tickets/issue is either refused with
// a 400 that names its offending fields and appends nothing, or accepted as
// exactly what plain encoding/json reads from it, a valid command, and stored
// as sent.
func FuzzIssueBody(f *testing.F) {
	fuzzCommand(f, "/tickets/issue", http.StatusCreated, domain.IssueFields, checkIssued,
		`{"theater_name":"CGV 강남","user_id":"user123","movie_title":"영화 제목","price_krw":15000,"quantity":2,"memo":"VIP석"}`,
		`{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":1,"quantity":null,"memo":null,"extra":{"x":[1]}}`,
		`{"theater_name":"a","user_id":"b","movie_title":"c","price_krw":1.0,"quantity":1e400}`,
		`{"theater_name":"\ud800","user_id":"b\u0000","movie_title":"c","price_krw":-0}`,
		"{\"theater_name\":\"\xff\",\"user_id\":\"b\",\"movie_title\":\"c\",\"price_krw\":1,\"price_krw\":2}",
	)
}

// FuzzRefundBody: any body sent to POST /tickets/refund is either refused
// with a 400 that names its offending fields, or accepted with every distinct
// id, exactly as plain encoding/json reads it, reported once. The service has
// no tickets, so every accepted id is not found and nothing is appended.
func FuzzRefundBody(f *testing.F) {
	fuzzCommand(f, "/tickets/refund", http.StatusOK, domain.RefundFields, checkAllNotFound,
		`{"ticket_ids":["0193a1b2-0000-7000-8000-000000000001","x","x"],"reason":"고객 요청"}`,
		`{"ticket_ids":["' OR 1=1 --","%","_","\\","a\u0000b"],"reason":null}`,
		`{"ticket_ids":["a",""],"reason":"\udc00"}`,
		`{"ticket_ids":[null,1,["a"]]}`,
		"{\"ticket_ids\":[\"\xc3\x28\"],\"ticket_ids\":[]}",
	)
}

// commandCheck checks a command's answer r to body given the log head before it.
type commandCheck func(t *testing.T, svc *service.Service, c *servicetest.Client, body []byte, r servicetest.Response, head int64)

// fuzzCommand fuzzes the bodies of the command at path: each is accepted with
// status ok and passes accepted, is over the body limit (413), or is refused
// as checkRejected requires.
func fuzzCommand(f *testing.F, path string, ok int, fields []string, accepted commandCheck, seeds ...string) {
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	cfg := servicetest.Config(f.TempDir())
	svc := servicetest.Start(f, cfg)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := servicetest.NewHandlerClient(t, svc)
		head := svc.Store().Head()
		r := c.Do("POST", path, body)
		switch {
		case r.Status == ok:
			accepted(t, svc, c, body, r, head)
		case r.Status == http.StatusRequestEntityTooLarge && int64(len(body)) > cfg.BodyLimit:
		default:
			checkRejected(t, svc, r, body, fields, head)
		}
	})
}

// FuzzIdempotencyKey: a key of 1 to 255 visible ASCII characters is honoured
// (the first request executes, the same request again replays its answer byte
// for byte and appends nothing); any other key is a 400 naming the
// Idempotency-Key header that appends nothing.
func FuzzIdempotencyKey(f *testing.F) {
	for _, seed := range []string{"unique-key-123", "", " ", "a b", "키", "k\r\nX-Injected: 1", "\x00", "~!@#$%^&*()_+{}|:<>?", strings.Repeat("k", 256)} {
		f.Add(seed)
	}
	svc := servicetest.Start(f, servicetest.Config(f.TempDir()))
	f.Fuzz(func(t *testing.T, key string) {
		c := servicetest.NewHandlerClient(t, svc)
		head := svc.Store().Head()
		first := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", key)
		if !validIdempotencyKey(key) {
			if first.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, first), []string{"Idempotency-Key"}) {
				t.Fatalf("key %q: %d %s, want 400 naming Idempotency-Key", key, first.Status, first.Body)
			}
			if svc.Store().Head() != head {
				t.Fatalf("key %q: refused request appended events", key)
			}
			return
		}
		// An earlier input may have used the key already; then both replay.
		if first.Status != http.StatusCreated && (first.Status != http.StatusOK || first.Header.Get("Idempotent-Replayed") != "true") {
			t.Fatalf("key %q: %d %s, want 201 or a replay", key, first.Status, first.Body)
		}
		afterFirst := svc.Store().Head()
		again := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "Idempotency-Key", key)
		if again.Status != http.StatusOK || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
			t.Fatalf("key %q: repeat = %d %q %s, want 200 replaying %s", key, again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
		}
		if svc.Store().Head() != afterFirst {
			t.Fatalf("key %q: the replay appended events", key)
		}
	})
}

// validIdempotencyKey is the contract's rule: 1 to 255 characters 0x21-0x7E.
func validIdempotencyKey(key string) bool {
	if key == "" || len(key) > 255 {
		return false
	}
	for _, b := range []byte(key) {
		if b < 0x21 || b > 0x7e {
			return false
		}
	}
	return true
}

// FuzzQueryParameters sends one query string to GET /tickets, GET /events
// and GET /tickets/{id}: each answers 200 (or 404 for a ticket as of before it
// existed), never 500, and a 400 names exactly the parameters whose values
// break the contract. A 200 has exactly the tickets or events the contract
// selects from a fixed log: three tickets issued at positions 1-3, the first
// refunded at position 4.
func FuzzQueryParameters(f *testing.F) {
	for _, seed := range []string{
		"theater_name=CGV+%EA%B0%95%EB%82%A8&status=issued&limit=2&offset=1",
		"user_id=user%25&movie_title=_&theater_name=%27+OR+1%3D1+--",
		"limit=1e3&offset=-0&status=ISSUED&after=%2B1&type=TicketRefunded",
		"limit=&offset=&status=&after=&type=&as_of=",
		"as_of=3&after=9223372036854775808&limit=1000",
		"as_of=2026-11-25T19:00:00.123456789%2B09:00",
		"as_of=9999-12-31T23:00:00-02:00",
		"limit=1;offset=2&limit=3",
	} {
		f.Add(seed)
	}
	svc := servicetest.Start(f, servicetest.Config(f.TempDir()))
	fixed := newQueryLog(f, servicetest.NewClient(f, svc))
	f.Fuzz(func(t *testing.T, query string) {
		if !isQueryText(query) {
			t.Skip("not a query string an HTTP request line can carry")
		}
		c := servicetest.NewHandlerClient(t, svc)
		q, _ := url.ParseQuery(query)
		for name, values := range q {
			q[name] = values[len(values)-1:] // a parameter given twice takes its last value
		}
		fixed.checkList(t, q, c.Do("GET", "/tickets?"+query, nil))
		fixed.checkEvents(t, q, c.Do("GET", "/events?"+query, nil))
		fixed.checkAsOf(t, q, c.Do("GET", "/tickets/"+fixed.refunded.id+"?"+query, nil))
	})
}

// isQueryText reports whether s has only visible ASCII other than '#': what
// a request line carries after '?' (any byte still reaches a parameter's
// value through %XX).
func isQueryText(s string) bool {
	for _, b := range []byte(s) {
		if b < 0x21 || b > 0x7e || b == '#' {
			return false
		}
	}
	return true
}

// checkRejected requires r to be a 400 that names only fields of the command,
// "body" or members of body (one given twice or not valid UTF-8), just "body"
// when body is not a JSON object, and that the log did not grow past head.
func checkRejected(t *testing.T, svc *service.Service, r servicetest.Response, body []byte, fields []string, head int64) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Fatalf("body %q: %d %s, want 201/200 or 400", body, r.Status, r.Body)
	}
	named := servicetest.ProblemFields(t, r)
	members, isObject := jsonMembers(body)
	if !isObject && !reflect.DeepEqual(named, []string{"body"}) {
		t.Fatalf("body %q is not a JSON object but the problem names %v", body, named)
	}
	for _, field := range named {
		if _, member := members[field]; !member && field != "body" && !slices.Contains(fields, field) {
			t.Fatalf("body %q: the problem names %q, which is neither a field nor in the body: %s", body, field, r.Body)
		}
	}
	if len(named) == 0 {
		t.Fatalf("body %q: a 400 that names no field: %s", body, r.Body)
	}
	if svc.Store().Head() != head {
		t.Fatalf("body %q: a refused command appended events", body)
	}
}

// jsonMembers returns the members of body as encoding/json reads a JSON
// object; false when body is not one.
func jsonMembers(body []byte) (map[string]json.RawMessage, bool) {
	var members map[string]json.RawMessage
	err := json.Unmarshal(body, &members)
	return members, err == nil && members != nil
}

// decodeMembers decodes the members of an accepted body named in dst into
// their targets with encoding/json, failing the test when one does not decode.
func decodeMembers(t *testing.T, body []byte, dst map[string]any) {
	t.Helper()
	members, ok := jsonMembers(body)
	if !ok {
		t.Fatalf("accepted body %q is not a JSON object", body)
	}
	for key, target := range dst {
		if raw, given := members[key]; given {
			if err := json.Unmarshal(raw, target); err != nil {
				t.Fatalf("accepted body %q: %s does not decode: %v", body, key, err)
			}
		}
	}
}

// checkIssued requires an accepted issue to be the valid command encoding/json
// reads from body, with quantity tickets appended after head and the first
// stored exactly as sent.
func checkIssued(t *testing.T, svc *service.Service, c *servicetest.Client, body []byte, r servicetest.Response, head int64) {
	t.Helper()
	cmd := domain.IssueTickets{Quantity: domain.DefaultQuantity}
	decodeMembers(t, body, map[string]any{"theater_name": &cmd.TheaterName, "user_id": &cmd.UserID,
		"movie_title": &cmd.MovieTitle, "price_krw": &cmd.PriceKRW, "quantity": &cmd.Quantity, "memo": &cmd.Memo})
	if err := cmd.Validate(); err != nil {
		t.Fatalf("accepted body %q is an invalid command: %v", body, err)
	}
	ids := servicetest.TicketIDs(t, r)
	if int64(len(ids)) != cmd.Quantity || r.JSON(t)["count"] != float64(cmd.Quantity) {
		t.Fatalf("body %q: quantity %d but the answer is %s", body, cmd.Quantity, r.Body)
	}
	if n := svc.Store().Head() - head; n != cmd.Quantity {
		t.Fatalf("body %q: %d events appended for quantity %d", body, n, cmd.Quantity)
	}
	ticket := c.Do("GET", "/tickets/"+ids[0], nil).JSON(t)
	var memo any
	if cmd.Memo != nil {
		memo = *cmd.Memo
	}
	want := map[string]any{"theater_name": cmd.TheaterName, "user_id": cmd.UserID, "movie_title": cmd.MovieTitle,
		"price_krw": float64(cmd.PriceKRW), "memo": memo, "status": "issued"}
	for field, value := range want {
		if ticket[field] != value {
			t.Fatalf("body %q: stored %s is %#v, sent %#v", body, field, ticket[field], value)
		}
	}
}

// checkAllNotFound requires an accepted refund to be the valid command
// encoding/json reads from body, with each distinct id, as sent, not found,
// and nothing appended.
func checkAllNotFound(t *testing.T, svc *service.Service, _ *servicetest.Client, body []byte, r servicetest.Response, head int64) {
	t.Helper()
	var cmd domain.RefundTickets
	decodeMembers(t, body, map[string]any{"ticket_ids": &cmd.TicketIDs, "reason": &cmd.Reason})
	if err := cmd.Validate(); err != nil {
		t.Fatalf("accepted body %q is an invalid command: %v", body, err)
	}
	var got struct {
		Refunded        []string `json:"refunded"`
		AlreadyCanceled []string `json:"already_canceled"`
		NotFound        []string `json:"not_found"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Refunded) != 0 || len(got.AlreadyCanceled) != 0 || !slices.Equal(got.NotFound, cmd.DistinctIDs()) {
		t.Fatalf("body %q: answer %s, want every distinct id once in not_found, as sent", body, r.Body)
	}
	if n := svc.Store().Head() - head; n != 0 {
		t.Fatalf("body %q: a refund of tickets that do not exist appended %d events", body, n)
	}
}

// queryLog is the fixed log FuzzQueryParameters queries: three tickets, the
// first of them refunded.
type queryLog struct {
	tickets  []queryTicket // in issue order
	refunded queryTicket
}

// queryTicket is what the list filters and as_of select a ticket by.
type queryTicket struct {
	id, theater, user, movie string
	issuedAt, canceledAt     time.Time // canceledAt is zero while issued
}

func newQueryLog(t testing.TB, c *servicetest.Client) queryLog {
	t.Helper()
	var log queryLog
	for _, body := range []map[string]any{
		servicetest.With(servicetest.SeedIssue, "quantity", 1),
		servicetest.With(servicetest.SeedIssue, "quantity", 1, "user_id", "user%"),
		servicetest.With(servicetest.SeedIssue, "quantity", 1, "theater_name", "' OR 1=1 --", "movie_title", "_"),
	} {
		c.IssueOK(body)
	}
	for _, tk := range c.Do("GET", "/tickets", nil).JSON(t)["tickets"].([]any) {
		log.tickets = append(log.tickets, queryTicket{id: tk.(map[string]any)["id"].(string)})
	}
	c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": []string{log.tickets[0].id}})
	for i, tk := range log.tickets {
		j := c.Do("GET", "/tickets/"+tk.id, nil).JSON(t)
		log.tickets[i] = queryTicket{id: tk.id, theater: j["theater_name"].(string), user: j["user_id"].(string), movie: j["movie_title"].(string),
			issuedAt: parseTime(t, j["issued_at"]), canceledAt: parseTime(t, j["canceled_at"])}
	}
	log.refunded = log.tickets[0]
	return log
}

// parseTime parses a JSON timestamp; null is the zero time.
func parseTime(t testing.TB, v any) time.Time {
	t.Helper()
	if v == nil {
		return time.Time{}
	}
	at, err := domain.ParseTime(v.(string))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// eventTypes are the types of the fixed log's events, position 1 first.
var eventTypes = []string{domain.TypeTicketIssued, domain.TypeTicketIssued, domain.TypeTicketIssued, domain.TypeTicketRefunded}

// paramRules says, per query parameter of an endpoint, which non-empty values
// the contract allows.
type paramRules map[string]func(string) bool

func intIn(lo, hi int64) func(string) bool {
	return func(s string) bool {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && n >= lo && n <= hi
	}
}

func oneOf(values ...string) func(string) bool {
	return func(s string) bool { return slices.Contains(values, s) }
}

var (
	listRules   = paramRules{"limit": intIn(1, 1000), "offset": intIn(0, 1<<63-1), "status": oneOf("issued", "canceled")}
	eventsRules = paramRules{"after": intIn(0, 1<<63-1), "limit": intIn(1, 1000), "type": oneOf(domain.EventTypes...)}
	asOfRules   = paramRules{"as_of": func(s string) bool {
		_, err := domain.ParseTime(s)
		return intIn(0, 1<<63-1)(s) || err == nil
	}}
)

// valid reports whether q breaks none of the rules; when it breaks some, it
// requires r to be a 400 naming exactly the parameters that break them.
func (rules paramRules) valid(t *testing.T, q url.Values, r servicetest.Response) bool {
	t.Helper()
	var invalid []string
	for name, valid := range rules {
		if v := q.Get(name); v != "" && !valid(v) {
			invalid = append(invalid, name)
		}
	}
	sort.Strings(invalid)
	if len(invalid) > 0 {
		if r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), invalid) {
			t.Fatalf("query %v: %d %s, want 400 naming %v", q, r.Status, r.Body, invalid)
		}
		return false
	}
	return true
}

// requireOK fails the test unless r is a 200.
func requireOK(t *testing.T, q url.Values, r servicetest.Response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("query %v: %d %s, want 200", q, r.Status, r.Body)
	}
}

// queryInt returns the integer parameter name of q, def when it is not given.
func queryInt(q url.Values, name string, def int64) int64 {
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return def
	}
	return n
}

// checkList requires GET /tickets to page exactly the tickets that match every
// given filter exactly (no wildcards), in issue order.
func (l queryLog) checkList(t *testing.T, q url.Values, r servicetest.Response) {
	t.Helper()
	if !listRules.valid(t, q, r) {
		return
	}
	requireOK(t, q, r)
	var matching []string
	for _, tk := range l.tickets {
		status := map[bool]string{true: "canceled", false: "issued"}[!tk.canceledAt.IsZero()]
		if exactly(q, "theater_name", tk.theater) && exactly(q, "user_id", tk.user) && exactly(q, "movie_title", tk.movie) && exactly(q, "status", status) {
			matching = append(matching, tk.id)
		}
	}
	limit, offset := queryInt(q, "limit", 100), queryInt(q, "offset", 0)
	want := matching[min(offset, int64(len(matching))):]
	want = want[:min(limit, int64(len(want)))]
	var got struct {
		Tickets       []struct{ ID string }
		Total         int
		Limit, Offset int64
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range got.Tickets {
		ids = append(ids, tk.ID)
	}
	if got.Total != len(matching) || got.Limit != limit || got.Offset != offset || !slices.Equal(ids, want) {
		t.Fatalf("GET /tickets with %v = %s, want total %d limit %d offset %d tickets %v", q, r.Body, len(matching), limit, offset, want)
	}
}

// exactly reports whether the filter name of q is not given or equals value.
func exactly(q url.Values, name, value string) bool {
	f := q.Get(name)
	return f == "" || f == value
}

// checkEvents requires GET /events to return exactly the positions after
// `after` of the chosen type, at most limit of them.
func (l queryLog) checkEvents(t *testing.T, q url.Values, r servicetest.Response) {
	t.Helper()
	if !eventsRules.valid(t, q, r) {
		return
	}
	requireOK(t, q, r)
	after, limit := queryInt(q, "after", 0), queryInt(q, "limit", 100)
	var want []int64
	next := after
	for i, typ := range eventTypes {
		if pos := int64(i + 1); pos > after && exactly(q, "type", typ) && int64(len(want)) < limit {
			want, next = append(want, pos), pos
		}
	}
	var got struct {
		Events    []struct{ Position int64 }
		NextAfter int64 `json:"next_after"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	var positions []int64
	for _, e := range got.Events {
		positions = append(positions, e.Position)
	}
	if !slices.Equal(positions, want) || got.NextAfter != next {
		t.Fatalf("GET /events with %v = %s, want positions %v next_after %d", q, r.Body, want, next)
	}
}

// checkAsOf requires GET /tickets/{refunded}?as_of= to show the ticket as it
// was at that position or time: 404 before its issue (position 1), issued
// until its refund (position 4), canceled after.
func (l queryLog) checkAsOf(t *testing.T, q url.Values, r servicetest.Response) {
	t.Helper()
	if !asOfRules.valid(t, q, r) {
		return
	}
	want := http.StatusOK
	status := "canceled"
	if asOf := q.Get("as_of"); asOf != "" {
		pos, err := strconv.ParseInt(asOf, 10, 64)
		at, _ := domain.ParseTime(asOf)
		before := func(posOf int64, atOf time.Time) bool {
			if err == nil {
				return pos < posOf
			}
			return at.Before(atOf)
		}
		switch {
		case before(1, l.refunded.issuedAt):
			want = http.StatusNotFound
		case before(4, l.refunded.canceledAt):
			status = "issued"
		}
	}
	if r.Status != want || (want == http.StatusOK && r.JSON(t)["status"] != status) {
		t.Fatalf("GET /tickets/{id}?as_of=%s = %d %s, want %d (%s)", q.Get("as_of"), r.Status, r.Body, want, status)
	}
}
