package service_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// rawExchange writes raw to a new connection to svc and returns every
// response read back until the server closes the connection (or 5s pass),
// and whether it closed it.
func rawExchange(t *testing.T, svc *service.Service, raw string) (responses []*http.Response, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", svc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var netErr net.Error
			return responses, !errors.As(err, &netErr) || !netErr.Timeout() // EOF or reset: closed
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		responses = append(responses, resp)
	}
}

func issueRequest(extraHeaders, body string) string {
	return "POST /tickets/issue HTTP/1.1\r\nHost: ticketd\r\nContent-Type: application/json\r\n" + extraHeaders + "\r\n" + body
}

func TestRequestWithContentLengthAndTransferEncodingIs400AndClosesTheConnection(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	c := servicetest.NewClient(t, svc)
	body, err := json.Marshal(servicetest.SeedIssue)
	if err != nil {
		t.Fatal(err)
	}
	smuggled := issueRequest(fmt.Sprintf("Content-Length: %d\r\n", len(body)), string(body))
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	for name, raw := range map[string]string{
		// A proxy going by Content-Length forwards the smuggled request as body.
		"Content-Length first":    issueRequest(fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len("0\r\n\r\n")+len(smuggled)), "0\r\n\r\n"+smuggled),
		"Transfer-Encoding first": issueRequest(fmt.Sprintf("transfer-encoding: chunked\r\ncontent-length: %d\r\n", len(chunked)), chunked) + smuggled,
	} {
		responses, closed := rawExchange(t, svc, raw)
		if len(responses) != 1 || responses[0].StatusCode != http.StatusBadRequest || !closed {
			statuses := []int{}
			for _, r := range responses {
				statuses = append(statuses, r.StatusCode)
			}
			t.Errorf("%s: responses %v, connection closed %v; want one 400 and the connection closed", name, statuses, closed)
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("smuggling attempts appended %d events", n)
	}

	// Chunked alone is fine, and so is the connection after it.
	responses, _ := rawExchange(t, svc, issueRequest("Transfer-Encoding: chunked\r\n", chunked)+
		issueRequest(fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n", len(body)), string(body)))
	if len(responses) != 2 || responses[0].StatusCode != http.StatusCreated || responses[1].StatusCode != http.StatusCreated {
		t.Fatalf("a chunked request then a Content-Length one on one connection: %d responses %v", len(responses), responses)
	}
}

func TestPathWithAnEncodedSlashIs404AndAppendsNothing(t *testing.T) {
	t.Parallel()
	c := servicetest.StartClient(t)
	for _, path := range []string{"/tickets%2fissue", "/tickets%2Fissue", "/tickets%2frefund"} {
		body := any(servicetest.SeedIssue)
		if strings.HasSuffix(path, "refund") {
			body = map[string]any{"ticket_ids": []string{"nope"}}
		}
		if r := c.Do("POST", path, body); r.Status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, r.Status)
		}
	}
	if n := c.LogHead(); n != 0 {
		t.Fatalf("encoded-slash paths appended %d events", n)
	}
}
