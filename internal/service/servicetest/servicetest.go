// Package servicetest starts the service in process for tests and talks to
// it over HTTP, checking every exchange against the OpenAPI document. It is
// for tests only: the component tests of internal/service and the command
// line tests of cmd/ticketd share it.
package servicetest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// Config is a service configuration for tests: the defaults with a
// database in dir, a free loopback port, timeouts that suit a loaded
// machine, and no free-space floor (tests run on small filesystems).
func Config(dir string) service.Config {
	cfg := service.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DB = filepath.Join(dir, "data", "app.db")
	cfg.ConsistencyTimeout = 10 * time.Second
	cfg.IdleTimeout = time.Minute
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.MinFreeBytes = 0
	return cfg
}

// Logger sends the service's warnings and errors to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Start starts a service with cfg and shuts it down at the end of the test.
func Start(t testing.TB, cfg service.Config) *service.Service {
	t.Helper()
	svc, err := service.Start(context.Background(), cfg, Logger(t))
	if err != nil {
		t.Fatalf("start service: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { svc.Shutdown() }) })
	return svc
}

// WaitUntil is WaitWithin ten seconds.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, 10*time.Second, what, cond)
}

// WaitWithin polls cond every 10ms and fails t, naming what, unless it
// holds within timeout.
func WaitWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartCluster starts n in-process services with --cluster on one fresh
// PostgreSQL database (skipping without TICKETD_TEST_POSTGRES_URL), named
// svc0, svc1..., polling the leadership lease every 50ms, each configured
// further by the configure functions, and returns the database and the
// services (shut down at the end of the test).
func StartCluster(t *testing.T, n int, configure ...func(*service.Config)) (string, []*service.Service) {
	t.Helper()
	db := pgtest.FreshDatabase(t)
	svcs := make([]*service.Service, n)
	for i := range svcs {
		cfg := Config(t.TempDir())
		cfg.DB, cfg.Cluster, cfg.InstanceID, cfg.LeaderPoll = db, true, fmt.Sprintf("svc%d", i), 50*time.Millisecond
		for _, fn := range configure {
			fn(&cfg)
		}
		svcs[i] = Start(t, cfg)
	}
	return db, svcs
}

// SoleLeader waits up to within until exactly one of the services in
// live leads, and returns it.
func SoleLeader(t *testing.T, svcs []*service.Service, live []int, within time.Duration) int {
	t.Helper()
	leader := -1
	WaitWithin(t, within, "exactly one service leads", func() bool {
		leader = -1
		for _, i := range live {
			if svcs[i].Leader() {
				if leader >= 0 {
					return false
				}
				leader = i
			}
		}
		return leader >= 0
	})
	return leader
}

// Tamper runs SQL directly on database db, as an attacker with access to
// the file or the server would; ? placeholders are numbered for PostgreSQL.
func Tamper(t testing.TB, db, query string, args ...any) {
	t.Helper()
	if service.IsPostgres(db) {
		for i := range args {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i+1), 1)
		}
		pgtest.Exec(t, db, query, args...)
		return
	}
	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(query, args...); err != nil {
		t.Fatalf("tamper %q: %v", query, err)
	}
}

// HoldProjection stops the tickets projector's Watermill handler, so the
// projection applies nothing more until CatchUp is called while the relay
// goes on publishing.
func HoldProjection(t *testing.T, svc *service.Service) {
	t.Helper()
	svc.Projector(projections.TicketsCheckpoint).Stop()
	select {
	case <-svc.Projector(projections.TicketsCheckpoint).Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("the projector did not stop")
	}
}

// AppendIssued appends n TicketIssued events straight to the service's log.
func AppendIssued(t *testing.T, svc *service.Service, n int) {
	t.Helper()
	if err := AppendIssuedTo(svc, n); err != nil {
		t.Fatal(err)
	}
}

// AppendIssuedTo is AppendIssued for goroutines other than the test's.
func AppendIssuedTo(svc *service.Service, n int) error {
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "direct", CorrelationID: "direct"}}
	for range n {
		req.Streams = append(req.Streams, eventstore.StreamAppend{
			StreamID: uuid.Must(uuid.NewV7()).String(),
			Events:   []domain.Event{domain.TicketIssued{TheaterName: "CGV 강남", UserID: "u", MovieTitle: "m", PriceKRW: 15000}},
		})
	}
	if _, err := svc.Store().Append(context.Background(), req); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

// Headers of the consistency token.
const (
	HeaderPosition    = "Ticketd-Position"
	HeaderConsistency = "Ticketd-Consistency"
	HeaderMinPosition = "Ticketd-Min-Position"
)

// StartWithConsistencyTimeout starts a service whose commands and reads wait
// at most timeout for the projection.
func StartWithConsistencyTimeout(t *testing.T, timeout time.Duration) (*service.Service, *Client) {
	t.Helper()
	cfg := Config(t.TempDir())
	cfg.ConsistencyTimeout = timeout
	svc := Start(t, cfg)
	return svc, NewClient(t, svc)
}

// FreeAddr returns a loopback address no one listened on a moment ago.
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
