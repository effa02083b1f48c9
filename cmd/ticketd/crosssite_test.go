package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadCORSOriginsExit2NamingTheFlag(t *testing.T) {
	t.Parallel()
	for _, origins := range []string{"shop.example", "https://shop.example/path", "https://a.example,,https://b.example", "*,https://a.example", "ftp://a.example"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "app.db"), "--cors-origins", origins}, nil, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "--cors-origins") {
			t.Errorf("--cors-origins %q: exit %d, stderr %q", origins, code, stderr.String())
		}
	}
}
