package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// sseTail follows GET /events/stream of a ticketd service.
type sseTail struct{ cfg tailConfig }

// follow prints the events of one stream connection until it ends; it
// resumes after out's position (Last-Event-ID), or from now when that is
// unknown. connected reports whether the service answered with a stream.
// A 4xx answer is fatal (tailFatal), but for 408 and 429.
func (t sseTail) follow(ctx context.Context, out *tailOutput) (connected bool, err error) {
	q := url.Values{}
	if t.cfg.eventType != "" {
		q.Set("type", t.cfg.eventType)
	}
	if out.position < 0 {
		q.Set("from", "now")
	}
	target := strings.TrimSuffix(t.cfg.url, "/") + "/events/stream?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, tailFatal{fmt.Errorf("--url: %w", err)}
	}
	req.Header.Set("Accept", "text/event-stream")
	if t.cfg.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.cfg.apiKey)
	}
	if out.position >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(out.position, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		err := fmt.Errorf("GET %s: %s: %s", target, resp.Status, bytes.TrimSpace(body))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			err = tailFatal{err}
		}
		return false, err
	}
	return true, readSSE(resp.Body, out)
}

// readSSE prints the events of a ticketd event stream, takes the position
// its ": position N" comments report, and flushes out whenever it has read
// all that arrived. It returns when the stream fails or ends.
func readSSE(body io.Reader, out *tailOutput) error {
	r := bufio.NewReaderSize(body, 64<<10)
	var id, data []byte
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return errors.New("the service ended the stream")
		}
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0: // end of a message
			if data != nil {
				pos, err := strconv.ParseInt(string(id), 10, 64)
				if err != nil {
					return fmt.Errorf("event without a position (id %q)", id)
				}
				if err := out.event(pos, data); err != nil {
					return err
				}
			}
			id, data = nil, nil
			if r.Buffered() == 0 {
				if err := out.flush(); err != nil {
					return err
				}
			}
		case line[0] == ':':
			if n, ok := bytes.CutPrefix(line, []byte(": position ")); ok {
				if pos, err := strconv.ParseInt(string(n), 10, 64); err == nil {
					out.advance(pos)
				}
			}
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "id":
				id = value
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
}
