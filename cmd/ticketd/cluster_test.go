package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// testCluster is n `ticketd serve --cluster` processes of the built binary
// on one fresh PostgreSQL database, each on a port of its own that it keeps
// across restarts, logging JSON at INFO to a file of its own.
type testCluster struct {
	t     *testing.T
	bin   string
	db    string
	extra []string // more serve flags, the same for every node
	nodes []*clusterNode
}

// clusterNode is one process of a testCluster.
type clusterNode struct {
	id   string // --instance-id
	addr string
	base string // http://addr
	log  string // the file its stderr goes to
	cmd  *exec.Cmd
	// exited is closed once the running process has been waited for.
	exited chan struct{}
}

// startCluster builds the binary (skipping with -short), creates a fresh
// database (skipping without TICKETD_TEST_POSTGRES_URL) and starts n
// instances on it with --cluster, --leader-poll 100ms and the flags extra,
// named node0, node1..., and waits until each answers /readyz with 200 and
// one of them leads. Every process is killed at the end of the test.
func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	bin := parallelBinaryTest(t)
	c := &testCluster{t: t, bin: bin, db: pgtest.FreshDatabase(t), extra: extra}
	dir := t.TempDir()
	for i := range n {
		addr := servicetest.FreeAddr(t)
		node := &clusterNode{id: fmt.Sprintf("node%d", i), addr: addr, base: "http://" + addr, log: filepath.Join(dir, fmt.Sprintf("node%d.log", i))}
		c.nodes = append(c.nodes, node)
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.kill(i)
		}
	})
	for i := range c.nodes {
		c.waitReady(i)
	}
	c.leader(10 * time.Second)
	return c
}

// start starts node i (again), appending to its log, and returns without
// waiting for it to serve.
func (c *testCluster) start(i int) {
	c.t.Helper()
	node := c.nodes[i]
	logFile, err := os.OpenFile(node.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"serve", "--cluster", "--db", c.db, "--addr", node.addr, "--instance-id", node.id,
		"--leader-poll", "100ms", "--min-free-bytes", "0", "--log-format", "json", "--log-level", "info"}, c.extra...)
	node.cmd = exec.Command(c.bin, args...)
	node.cmd.Stderr = logFile
	if err := node.cmd.Start(); err != nil {
		logFile.Close()
		c.t.Fatal(err)
	}
	node.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}(node.cmd, node.exited)
}

// kill SIGKILLs node i and waits for it to exit; a node not running is left alone.
func (c *testCluster) kill(i int) { c.signal(i, syscall.SIGKILL) }

// stop SIGTERMs node i and waits for it to exit.
func (c *testCluster) stop(i int) { c.signal(i, syscall.SIGTERM) }

func (c *testCluster) signal(i int, sig syscall.Signal) {
	node := c.nodes[i]
	if node.cmd == nil {
		return
	}
	node.cmd.Process.Signal(sig)
	<-node.exited
	node.cmd = nil
}

// running reports whether node i has a process that has not exited.
func (c *testCluster) running(i int) bool {
	node := c.nodes[i]
	if node.cmd == nil {
		return false
	}
	select {
	case <-node.exited:
		return false
	default:
		return true
	}
}

// nodeRole is what a /readyz answer says of the instance.
type nodeRole struct {
	Ready    bool   // status 200
	Instance string `json:"instance"`
	Leader   bool   `json:"leader"`
}

// readyz asks node i's /readyz; ok is false when it does not answer.
func (c *testCluster) readyz(i int) (r nodeRole, ok bool) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(c.nodes[i].base + "/readyz")
	if err != nil {
		return nodeRole{}, false
	}
	defer resp.Body.Close()
	var body struct {
		nodeRole
		InstanceID string `json:"instance_id"` // in the 503 body
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nodeRole{}, false
	}
	r = body.nodeRole
	r.Ready = resp.StatusCode == http.StatusOK
	if r.Instance == "" {
		r.Instance = body.InstanceID
	}
	return r, true
}

// waitReady waits up to 30s until node i answers /readyz with 200.
func (c *testCluster) waitReady(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, ok := c.readyz(i); ok && r.Ready {
			return
		}
		if !c.running(i) {
			c.t.Fatalf("%s exited before it was ready; its log:\n%s", c.nodes[i].id, c.logOf(i))
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s not ready within 30s; its log:\n%s", c.nodes[i].id, c.logOf(i))
}

// leaders returns the running nodes whose /readyz says they lead.
func (c *testCluster) leaders() []int {
	var out []int
	for i := range c.nodes {
		if !c.running(i) {
			continue
		}
		if r, ok := c.readyz(i); ok && r.Leader {
			out = append(out, i)
		}
	}
	return out
}

// leader waits up to within until exactly one running node leads and
// returns it, failing the test otherwise.
func (c *testCluster) leader(within time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last []int
	for time.Now().Before(deadline) {
		if last = c.leaders(); len(last) == 1 {
			return last[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("leaders after %s: %v, want exactly one", within, last)
	return -1
}

// client returns an API client of node i that checks every exchange
// against the OpenAPI document.
func (c *testCluster) client(i int) *servicetest.Client {
	return servicetest.NewClientAt(c.t, c.nodes[i].base)
}

// logOf returns node i's log so far.
func (c *testCluster) logOf(i int) string {
	b, _ := os.ReadFile(c.nodes[i].log)
	return string(b)
}

// logLines returns the messages of node i's log lines whose msg is msg.
func (c *testCluster) logLines(i int, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(c.logOf(i), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			out = append(out, entry)
		}
	}
	return out
}
