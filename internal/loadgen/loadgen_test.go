package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestEveryClientCompletesItsFirstRequestPastTheDuration holds Run to
// measuring a service slower than the run: each client's first request is
// waited for, later ones are cut off at the deadline.
func TestEveryClientCompletesItsFirstRequestPastTheDuration(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	res := Run(context.Background(), Config{Clients: 3, Duration: 20 * time.Millisecond}, func(int64) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, slow.URL, nil)
	})
	if res.Requests != 3 || res.Errors != 0 {
		t.Fatalf("3 clients against a 200 ms service for 20 ms: %d requests, %d errors; want 3 and 0", res.Requests, res.Errors)
	}
	if res.P50 < 200*time.Millisecond {
		t.Fatalf("p50 %s, want the full 200 ms of the first requests", res.P50)
	}
}
