package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/sqlite"
)

func newMetrics() *Metrics { return New(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestObserveCommitCountsEventsBatchesAndFailures(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	m.ObserveCommit(eventstore.CommitInfo{Appends: 3, Failed: 1, Events: map[string]int{"TicketIssued": 2}, Took: time.Millisecond})
	m.ObserveCommit(eventstore.CommitInfo{Appends: 2, Events: map[string]int{}, Took: time.Millisecond, Err: errors.New("disk full")})

	for name, tt := range map[string]struct{ got, want float64 }{
		"events appended":  {testutil.ToFloat64(m.eventsAppended.WithLabelValues("TicketIssued")), 2},
		"appends rejected": {testutil.ToFloat64(m.appendsRejected), 1},
		"commit errors":    {testutil.ToFloat64(m.commitErrors), 1},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", name, tt.got, tt.want)
		}
	}
	want := `
# HELP ticketd_group_commit_batch_size Appends carried by one group commit (one transaction, one fsync).
# TYPE ticketd_group_commit_batch_size histogram
ticketd_group_commit_batch_size_bucket{le="1"} 0
ticketd_group_commit_batch_size_bucket{le="2"} 1
ticketd_group_commit_batch_size_bucket{le="4"} 2
ticketd_group_commit_batch_size_bucket{le="8"} 2
ticketd_group_commit_batch_size_bucket{le="16"} 2
ticketd_group_commit_batch_size_bucket{le="32"} 2
ticketd_group_commit_batch_size_bucket{le="64"} 2
ticketd_group_commit_batch_size_bucket{le="128"} 2
ticketd_group_commit_batch_size_bucket{le="256"} 2
ticketd_group_commit_batch_size_bucket{le="+Inf"} 2
ticketd_group_commit_batch_size_sum 5
ticketd_group_commit_batch_size_count 2
`
	if err := testutil.CollectAndCompare(m.commitBatch, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestSSEStreamsGaugeFollowsOpenAndClose(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	m.SSEStreamOpened()
	m.SSEStreamOpened()
	m.SSEStreamClosed()
	if got := testutil.ToFloat64(m.sseStreams); got != 1 {
		t.Fatalf("ticketd_sse_streams_open = %v, want 1", got)
	}
}

// position is a consumer standing still at a position.
type position int64

func (p position) Position() int64 { return int64(p) }

func TestLagIsMeasuredAgainstTheLogOnEveryScrape(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	issued := domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000}
	if _, err := store.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{
		{StreamID: "a", Events: []domain.Event{issued}}, {StreamID: "b", Events: []domain.Event{issued}},
	}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // so the unprocessed events are measurably old

	m := newMetrics()
	if err := m.WatchLag(store, map[string]Consumer{"behind": position(0), "caught-up": position(2)}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchLag(store, map[string]Consumer{"again": position(0)}); err == nil {
		t.Error("a second WatchLag was accepted")
	}
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lag := map[string]float64{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "ticketd_consumer_lag_") {
			for _, s := range f.GetMetric() {
				lag[f.GetName()+"/"+s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
			}
		}
	}
	if lag["ticketd_consumer_lag_events/behind"] != 2 || lag["ticketd_consumer_lag_events/caught-up"] != 0 || lag["ticketd_consumer_lag_seconds/caught-up"] != 0 {
		t.Errorf("lag = %v", lag)
	}
	if s := lag["ticketd_consumer_lag_seconds/behind"]; s < 0.005 || s > 60 {
		t.Errorf("lag of the consumer behind = %vs, want the age of the first event", s)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `ticketd_consumer_lag_events{consumer="behind"} 2`) {
		t.Errorf("the handler does not serve the lag:\n%s", rec.Body.String())
	}
}

func TestBuildInfoIsOneWithTheBuildsLabels(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	m.RecordBuild("v1.2.3", "0123abc", "go1.26.8")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `ticketd_build_info{commit="0123abc",goversion="go1.26.8",version="v1.2.3"} 1` + "\n"
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("/metrics lacks %q:\n%s", want, rec.Body.String())
	}
}

func TestAppendLockWaitAndHoldAreServedBeforeAnyObservation(t *testing.T) {
	t.Parallel()
	body := scrape(newMetrics())
	for _, name := range []string{"ticketd_append_lock_wait_seconds", "ticketd_append_lock_hold_seconds"} {
		if !strings.Contains(body, name+"_count 0\n") {
			t.Errorf("/metrics lacks an empty %s:\n%s", name, body)
		}
	}
}

func TestObserveAppendLockRecordsWaitAndHoldTimesInSeconds(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	m.ObserveAppendLock(0, 150*time.Microsecond)
	m.ObserveAppendLock(7*time.Millisecond, 3*time.Millisecond)
	if n := testutil.CollectAndCount(m.appendLockHold) + testutil.CollectAndCount(m.appendLockWait); n != 2 {
		t.Fatalf("%d series, want 2", n)
	}
	body := scrape(m)
	for _, want := range []string{
		`ticketd_append_lock_hold_seconds_bucket{le="0.0001"} 0`,
		`ticketd_append_lock_hold_seconds_bucket{le="0.0002"} 1`,
		`ticketd_append_lock_hold_seconds_bucket{le="0.0032"} 2`,
		`ticketd_append_lock_hold_seconds_sum 0.00315`,
		`ticketd_append_lock_hold_seconds_count 2`,
		`ticketd_append_lock_wait_seconds_bucket{le="0.0001"} 1`,
		`ticketd_append_lock_wait_seconds_bucket{le="0.0064"} 1`,
		`ticketd_append_lock_wait_seconds_bucket{le="0.0128"} 2`,
		`ticketd_append_lock_wait_seconds_sum 0.007`,
		`ticketd_append_lock_wait_seconds_count 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// The hook has the signature of the PostgreSQL store's Options.OnAppendLock
// and counts each of its group commits.
func TestObserveAppendLockIsThePostgresStoresHook(t *testing.T) {
	t.Parallel()
	server := os.Getenv("TICKETD_TEST_POSTGRES_URL")
	if server == "" {
		t.Skip("TICKETD_TEST_POSTGRES_URL is not set: the PostgreSQL hook test is skipped")
	}
	schema := "metrics_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	m := newMetrics()
	store, err := postgres.Open(context.Background(), server, postgres.Options{Schema: schema, OnAppendLock: m.ObserveAppendLock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		conn, err := pgx.Connect(context.Background(), server)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	issued := domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000}
	for _, stream := range []string{"a", "b"} {
		if _, err := store.Append(context.Background(), eventstore.AppendRequest{Streams: []eventstore.StreamAppend{{StreamID: stream, Events: []domain.Event{issued}}}}); err != nil {
			t.Fatal(err)
		}
	}
	body := scrape(m)
	for _, name := range []string{"ticketd_append_lock_wait_seconds", "ticketd_append_lock_hold_seconds"} {
		if !strings.Contains(body, name+"_count 2\n") {
			t.Errorf("after two appends, /metrics lacks %s_count 2:\n%s", name, body)
		}
	}
}

// scrape returns what m's handler serves.
func scrape(m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
