package servicetest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service"
)

// Engine is a storage engine the end-to-end suites run the service on.
type Engine struct {
	Name string
	// Database returns the --db of a new, empty database for tb: a file in
	// dir, or a database of tb's own on a server, dropped when tb ends.
	Database func(tb testing.TB, dir string) string
	// ClusterNode, when above 0, makes StartClient start a cluster of
	// ClusterSize instances on one fresh PostgreSQL database and talk to
	// its ClusterNode-th instance.
	ClusterNode int
	// Omits are the paths of the JSON fields the docs show that this
	// engine leaves out (the docs test matches them optionally).
	Omits []string
}

// ClusterSize is how many instances a cluster engine starts.
const ClusterSize = 3

// SQLite is the embedded default: a file below dir.
var SQLite = Engine{Name: "sqlite", Database: func(_ testing.TB, dir string) string { return filepath.Join(dir, "data", "app.db") }}

// Postgres is a fresh database on the server TICKETD_TEST_POSTGRES_URL
// names; its tests skip without it.
var Postgres = Engine{Name: "postgres", Database: func(tb testing.TB, _ string) string { return pgtest.FreshDatabase(tb) },
	Omits: []string{"checks.disk"}} // /readyz checks the free space of a SQLite file's filesystem only

// Engines are the engines every end-to-end suite runs once against.
var Engines = []Engine{SQLite, Postgres}

// ClusterNodes are the PostgreSQL engine seen through each instance of a
// cluster; their tests skip without TICKETD_TEST_POSTGRES_URL.
var ClusterNodes = func() []Engine {
	nodes := make([]Engine, ClusterSize)
	for i := range nodes {
		nodes[i] = Postgres
		nodes[i].Name = fmt.Sprintf("cluster-node%d", i+1)
		nodes[i].ClusterNode = i + 1
	}
	return nodes
}()

// ForEachEngineAndClusterNode is ForEachEngine, then the same test once
// through each instance of a cluster (the HTTP contract holds through any).
func ForEachEngineAndClusterNode(t *testing.T, test func(t *testing.T, e Engine)) {
	t.Helper()
	ForEachEngine(t, test)
	for _, e := range ClusterNodes {
		t.Run(e.Name, func(t *testing.T) { test(t, e) })
	}
}

// ForEachEngine runs test once per engine, in subtests named after the
// engines, one after the other (test decides on its own parallelism).
func ForEachEngine(t *testing.T, test func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) { test(t, e) })
	}
}

// Config is the package's Config on a new database of e (as one instance
// of a cluster for a cluster engine).
func (e Engine) Config(t testing.TB) service.Config {
	dir := t.TempDir()
	cfg := Config(dir)
	cfg.DB = e.Database(t, dir)
	cfg.Cluster = e.ClusterNode > 0
	return cfg
}

// StartClient starts a service on a new database of e and returns a client
// of it; for a cluster engine, a cluster with its leader elected and a
// client of its ClusterNode-th instance.
func (e Engine) StartClient(t *testing.T) *Client {
	t.Helper()
	if e.ClusterNode == 0 {
		return NewClient(t, Start(t, e.Config(t)))
	}
	_, svcs := StartCluster(t, ClusterSize)
	SoleLeader(t, svcs, []int{0, 1, 2}, 10*time.Second)
	return NewClient(t, svcs[e.ClusterNode-1])
}
