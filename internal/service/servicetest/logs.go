package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ticketd/ticketd/internal/service"
)

// SyncBuffer is a log destination safe for concurrent writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// LogLine is one decoded JSON log line.
type LogLine map[string]any

// Str returns the string at key, "" for none.
func (l LogLine) Str(key string) string { s, _ := l[key].(string); return s }

// DecodeLogLines decodes JSON log lines.
func DecodeLogLines(t *testing.T, logs string) []LogLine {
	t.Helper()
	var lines []LogLine
	for _, raw := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line LogLine
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, raw)
		}
		lines = append(lines, line)
	}
	return lines
}

// StartLogged starts a service with cfg whose JSON log lines (INFO and up)
// go to the returned buffer, and a stop that returns once every handler has.
func StartLogged(t *testing.T, cfg service.Config) (*service.Service, *SyncBuffer, func()) {
	t.Helper()
	logs := &SyncBuffer{}
	svc, err := service.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { svc.Shutdown() }) }
	t.Cleanup(stop)
	return svc, logs, stop
}
