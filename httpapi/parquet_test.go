package httpapi

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ticketd/ticketd/eventstore/sqlite"
)

func TestEventsExportParquetRunsAtMostTwoAtOnce(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := NewServer(Deps{Log: store}, Config{})
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events/export.parquet", nil))
		return rec
	}
	var releases []func()
	for range maxParquetExports {
		release, ok := tryTake(s.parquetSlots)
		if !ok {
			t.Fatalf("only %d exports may start", len(releases))
		}
		releases = append(releases, release)
	}
	if rec := get(); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("export beside %d running ones: %d (Retry-After %q), want 503 with Retry-After", maxParquetExports, rec.Code, rec.Header().Get("Retry-After"))
	}
	releases[0]()
	if rec := get(); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != parquetContentType {
		t.Errorf("export once one ended: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
