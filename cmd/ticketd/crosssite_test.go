package main

import (
	"net/http"
	"testing"
)

func TestPostsThatAreNotPlainJSONAre415NamingTheHeaderAndAppendNothing(t *testing.T) {
	t.Parallel()
	c := startClient(t)
	refund := map[string]any{"ticket_ids": []string{"nope"}}
	tests := []struct {
		name    string
		headers []string
		field   string
	}{
		{"no Content-Type", []string{"Content-Type", ""}, "Content-Type"},
		{"text/plain", []string{"Content-Type", "text/plain"}, "Content-Type"},
		{"form", []string{"Content-Type", "application/x-www-form-urlencoded"}, "Content-Type"},
		{"multipart", []string{"Content-Type", "multipart/form-data; boundary=x"}, "Content-Type"},
		{"JSON lookalike", []string{"Content-Type", "application/json-patch+json"}, "Content-Type"},
		{"malformed parameters", []string{"Content-Type", "application/json; charset"}, "Content-Type"},
		{"gzip", []string{"Content-Encoding", "gzip"}, "Content-Encoding"},
		{"identity", []string{"Content-Encoding", "identity"}, "Content-Encoding"},
	}
	for _, tt := range tests {
		for path, body := range map[string]any{"/tickets/issue": seedIssue, "/tickets/refund": refund} {
			r := c.do("POST", path, body, tt.headers...)
			if r.status != http.StatusUnsupportedMediaType {
				t.Errorf("%s to %s: %d, want 415", tt.name, path, r.status)
				continue
			}
			if fields := problemFields(t, r); len(fields) != 1 || fields[0] != tt.field {
				t.Errorf("%s to %s: problem names %v, want [%s]", tt.name, path, fields, tt.field)
			}
		}
	}
	if n := c.logHead(); n != 0 {
		t.Fatalf("415 requests appended %d events", n)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		if r := c.do("POST", "/tickets/issue", seedIssue, "Content-Type", ct); r.status != http.StatusCreated {
			t.Errorf("Content-Type %q: %d, want 201", ct, r.status)
		}
	}
}
