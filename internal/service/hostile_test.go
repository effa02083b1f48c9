package service_test

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/httpapi"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// The tests in this file send hostile input over real HTTP, each guarding
// one protection: the JSON decoder's nesting limit, the integer grammar and
// overflow clamp, the Unicode and NUL checks of texts, bound SQL parameters
// and exact-match filters, the header size limit and the read-header timeout.

// deeplyNested returns n nested JSON arrays.
func deeplyNested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestDeeplyNestedBodiesAre400(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.BodyLimit = 1 << 20 // room for 100,000 levels, so the nesting and not the size is refused
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	const depth = 100_000
	for path, body := range map[string]string{
		// An unknown field is ignored once parsed, so only the decoder's
		// nesting limit can refuse it.
		"/tickets/issue":  `{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":1,"extra":` + deeplyNested(depth) + `}`,
		"/tickets/refund": `{"ticket_ids":` + deeplyNested(depth) + `}`,
	} {
		r := c.Do("POST", path, body)
		if r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{"body"}) {
			t.Errorf("%s with %d nested arrays: %d %s, want 400 naming body", path, depth, r.Status, r.Body)
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("nested bodies appended %d events", n)
	}
}

func TestNumbersThatAreNotSmallIntegersAre400NamingTheField(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	const body = `{"theater_name":"a","user_id":"u","movie_title":"m","price_krw":%s,"quantity":%s}`
	for _, number := range []string{"1e400", "99999999999999999999", "-99999999999999999999", "-0", "1.0", "2.5", "1E0", "0.5e1"} {
		for field, body := range map[string]string{"price_krw": fmt.Sprintf(body, number, "1"), "quantity": fmt.Sprintf(body, "1", number)} {
			r := c.Do("POST", "/tickets/issue", body)
			if r.Status != http.StatusBadRequest || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{field}) {
				t.Errorf("%s %s: %d %s, want 400 naming %s", field, number, r.Status, r.Body, field)
			}
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("refused numbers appended %d events", n)
	}
}

func TestTextsMustBeValidUnicodeWithoutNUL(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	// One offence per field, so the problem must name each field itself.
	r := c.Do("POST", "/tickets/issue", "{\"theater_name\":\"CGV \xff\",\"user_id\":\"\\ud800\",\"movie_title\":\"a\\u0000b\","+
		"\"price_krw\":1,\"memo\":\"\\udc00\\ud800\"}")
	if want := []string{"memo", "movie_title", "theater_name", "user_id"}; r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), want) {
		t.Errorf("issue with bad texts: %d %s, want 400 naming %v", r.Status, r.Body, want)
	}
	for body, field := range map[string]string{
		"{\"ticket_ids\":[\"ok\",\"\xe2\x82\"]}":       "ticket_ids",
		`{"ticket_ids":["\ud800"]}`:                    "ticket_ids",
		`{"ticket_ids":["a"],"reason":"\u0000"}`:       "reason",
		"{\"ticket_ids\":[\"a\"],\"reason\":\"\xc0\"}": "reason",
	} {
		if r := c.Do("POST", "/tickets/refund", body); r.Status != 400 || !reflect.DeepEqual(servicetest.ProblemFields(t, r), []string{field}) {
			t.Errorf("refund %q: %d %s, want 400 naming %s", body, r.Status, r.Body, field)
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("refused texts appended %d events", n)
	}

	// An escaped surrogate pair is one valid character; an id with NUL is
	// merely malformed, so it is not found, as the contract says of such ids.
	r = c.Do("POST", "/tickets/issue", `{"theater_name":"\ud83c\udfac CGV","user_id":"u","movie_title":"m","price_krw":1}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("issue with an escaped surrogate pair: %d %s", r.Status, r.Body)
	}
	id := servicetest.TicketIDs(t, r)[0]
	if tk := c.Do("GET", "/tickets/"+id, nil).JSON(t); tk["theater_name"] != "\U0001F3AC CGV" {
		t.Fatalf("theater_name stored as %q", tk["theater_name"])
	}
	r = c.Do("POST", "/tickets/refund", `{"ticket_ids":["a\u0000b"]}`)
	if r.Status != 200 || !reflect.DeepEqual(r.JSON(t)["not_found"], []any{"a\x00b"}) {
		t.Fatalf("refund of an id with NUL: %d %s, want it not found", r.Status, r.Body)
	}
}

// sqlMetacharacters are values that would change a query built by pasting
// text into SQL, or match more than themselves in a LIKE pattern.
var sqlMetacharacters = []string{`' OR 1=1 --`, `"; DROP TABLE events; --`, `%`, `_`, `\`, `'`, `%'; DELETE FROM tickets; --`}

func TestSQLMetacharactersAreMatchedAsPlainText(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	// Every metacharacter value is a real theater name, user id and movie
	// title of one ticket, so an exact match finds exactly that ticket.
	owner := map[string]string{}
	for _, v := range sqlMetacharacters {
		owner[v] = c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1, "theater_name", v, "user_id", v, "movie_title", v))[0]
	}
	tables := tableNames(t, cfg.DB)
	head := c.LogHead()

	for _, filter := range []string{"theater_name", "user_id", "movie_title"} {
		for _, v := range append([]string{"x" + sqlMetacharacters[0], "%%", "_%"}, sqlMetacharacters...) {
			r := c.Do("GET", "/tickets?"+url.Values{filter: {v}}.Encode(), nil)
			var got []any
			if tk, ok := owner[v]; ok {
				got = []any{tk}
			}
			if r.Status != 200 || !slices.Equal(listedIDs(t, r), got) {
				t.Errorf("GET /tickets?%s=%q: %d %s, want exactly %v", filter, v, r.Status, r.Body, got)
			}
		}
	}
	for _, v := range sqlMetacharacters {
		for _, query := range []url.Values{{"status": {v}}, {"limit": {v}}, {"offset": {v}}} {
			if r := c.Do("GET", "/tickets?"+query.Encode(), nil); r.Status != 400 {
				t.Errorf("GET /tickets?%s: %d, want 400", query.Encode(), r.Status)
			}
		}
		for _, query := range []url.Values{{"type": {v}}, {"after": {v}}, {"limit": {v}}} {
			if r := c.Do("GET", "/events?"+query.Encode(), nil); r.Status != 400 {
				t.Errorf("GET /events?%s: %d, want 400", query.Encode(), r.Status)
			}
		}
		id := url.PathEscape(v)
		for _, path := range []string{"/tickets/" + id, "/tickets/" + id + "/events", "/tickets/" + id + "?as_of=" + fmt.Sprint(head)} {
			if r := c.Do("GET", path, nil); r.Status != 404 {
				t.Errorf("GET %s: %d %s, want 404", path, r.Status, r.Body)
			}
		}
	}
	r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": sqlMetacharacters})
	if r.Status != 200 || len(r.JSON(t)["not_found"].([]any)) != len(sqlMetacharacters) {
		t.Errorf("refund of metacharacter ids: %d %s, want all not found", r.Status, r.Body)
	}

	if n := c.LogHead(); n != head {
		t.Fatalf("the log has %d events, had %d", n, head)
	}
	if got := tableNames(t, cfg.DB); !reflect.DeepEqual(got, tables) {
		t.Fatalf("tables are now %v, were %v", got, tables)
	}
	if rep := c.Do("GET", "/audit/verify", nil).JSON(t); rep["ok"] != true {
		t.Fatalf("the database no longer verifies: %v", rep)
	}
}

// listedIDs returns the ids of a GET /tickets answer.
func listedIDs(t *testing.T, r servicetest.Response) []any {
	t.Helper()
	var ids []any
	for _, tk := range r.JSON(t)["tickets"].([]any) {
		ids = append(ids, tk.(map[string]any)["id"])
	}
	return ids
}

// tableNames returns the names of the tables in the database at path.
func tableNames(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// rawRequest writes head to a new connection to svc and returns the
// connection to read the answer from. It writes in the background and
// ignores write errors: the server may answer and hang up mid-request.
func rawRequest(t *testing.T, svc *service.Service, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", svc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() { io.WriteString(conn, head) }()
	return conn
}

// TestHeadersOverMaxHeaderBytesAre431 sends oversized header blocks over raw
// TCP: up to httpapi.HeaderReadLimit they reach the API, which answers a 431
// problem; beyond it net/http answers its own plain-text 431.
func TestHeadersOverMaxHeaderBytesAre431(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name          string
		limit, header int
		problem       bool
	}{
		{"1 KiB limit", 1 << 10, 16 << 10, true},
		{"serve's default limit, 1 MB header", 0, 1_000_000, true},
		{"serve's default limit, 1 KiB under it", 0, 63 << 10, false},
		{"over what the server reads", 0, httpapi.HeaderReadLimit(64<<10) + 8<<10, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := servicetest.Config(t.TempDir())
			if tt.limit > 0 {
				cfg.MaxHeaderBytes = int64(tt.limit)
			} else {
				cfg.MaxHeaderBytes = service.DefaultConfig().MaxHeaderBytes
			}
			svc := servicetest.Start(t, cfg)
			conn := rawRequest(t, svc, "GET /healthz HTTP/1.1\r\nHost: ticketd\r\nX-Filler: "+strings.Repeat("a", tt.header)+"\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			over := tt.header > int(cfg.MaxHeaderBytes)
			switch {
			case !over && resp.StatusCode != http.StatusOK:
				t.Errorf("%d-byte header under a %d-byte limit: %d %s, want 200", tt.header, cfg.MaxHeaderBytes, resp.StatusCode, body)
			case over && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
				t.Errorf("%d-byte header over a %d-byte limit: %d, want 431", tt.header, cfg.MaxHeaderBytes, resp.StatusCode)
			case tt.problem && (resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("X-Request-ID") == "" ||
				!strings.Contains(string(body), `"status":431`)):
				t.Errorf("431 is not a problem with a request id: %v %s", resp.Header, body)
			}
			if r := servicetest.NewClient(t, svc).Do("GET", "/healthz", nil, "X-Filler", "small"); r.Status != http.StatusOK {
				t.Errorf("small header after a large one: %d, want 200", r.Status)
			}
		})
	}
}

func TestSlowHeaderClientIsCutOffByTheReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.ReadHeaderTimeout = 500 * time.Millisecond
	svc := servicetest.Start(t, cfg)
	c := servicetest.NewClient(t, svc)
	start := time.Now() // before the server can start its header deadline
	conn, err := net.Dial("tcp", svc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { // a header that never ends, one byte every 50ms
		for _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: ticketd\r\nX-Slow: "); err == nil; _, err = io.WriteString(conn, "a") {
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(cfg.ReadHeaderTimeout / 2)
	if r := c.Do("GET", "/", nil); r.Status != http.StatusOK {
		t.Errorf("another client while the slow one sends: %d, want 200", r.Status)
	}
	// The server hangs up without an answer; a read then ends with EOF or a reset.
	slack := 2 * time.Second
	conn.SetReadDeadline(start.Add(cfg.ReadHeaderTimeout + slack))
	n, err := io.Copy(io.Discard, conn)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the slow client was still connected %s after it began (read-header timeout %s)", time.Since(start).Round(time.Millisecond), cfg.ReadHeaderTimeout)
	}
	if elapsed := time.Since(start); elapsed < cfg.ReadHeaderTimeout || n > 0 {
		t.Fatalf("after %s (read-header timeout %s) the server answered %d bytes and hung up (%v), want no answer at the timeout", elapsed, cfg.ReadHeaderTimeout, n, err)
	}
}

// TestIdsThatCannotNameATicketAreNotFoundOnEveryEngine holds the contract's
// "ids that are not UUIDs simply do not exist" for ids a database cannot
// even look up (NUL is no PostgreSQL text): 404, never 500.
func TestIdsThatCannotNameATicketAreNotFoundOnEveryEngine(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		c := e.StartClient(t)
		c.IssueOK(map[string]any{"theater_name": "t", "user_id": "u", "movie_title": "m", "price_krw": 1})
		for _, path := range []string{"/tickets/a%00b", "/tickets/a%00b?as_of=1", "/tickets/a%00b/events",
			"/tickets/not-a-uuid", "/tickets/0193A000-0000-7000-8000-000000000000"} {
			if r := c.Do("GET", path, nil); r.Status != http.StatusNotFound {
				t.Errorf("GET %s: %d %s, want 404", path, r.Status, r.Body)
			}
		}
	})
}
