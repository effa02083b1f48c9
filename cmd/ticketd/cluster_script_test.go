package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/pgtest"
)

// freePortRange returns a port p with p..p+n-1 free on loopback now.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		var b [2]byte
		rand.Read(b[:])
		base := 20000 + (int(b[0])<<8|int(b[1]))%40000
		free := true
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("found no %d free consecutive ports", n)
	return 0
}

// TestClusterScriptRunsThreeInstancesBehindHAProxyAndStops runs
// scripts/cluster as README shows: start brings up three --cluster
// instances and HAProxy on the test server's PostgreSQL and NATS; tickets
// issued through HAProxy are read on every instance with the position
// token; exactly one instance leads; status reports all four processes;
// stop --drop-db leaves no process, no listener and no database behind.
// It needs HAProxy (Debian's haproxy package), and skips without it unless
// CI is set.
func TestClusterScriptRunsThreeInstancesBehindHAProxyAndStops(t *testing.T) {
	bin, _, nats := clusterTestSetup(t)
	t.Parallel()
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it and sets CI")
		}
		t.Fatal("CI is set but haproxy is not installed")
	}
	server := pgtest.ServerURL(t)
	var b [6]byte
	rand.Read(b[:])
	dbName := "ticketd_test_cluster_" + hex.EncodeToString(b[:])
	dir := t.TempDir()
	port := freePortRange(t, 4)
	env := append(os.Environ(), "TICKETD_CLUSTER_DIR="+dir, "TICKETD_CLUSTER_PG="+server, "TICKETD_CLUSTER_DB_NAME="+dbName,
		"TICKETD_CLUSTER_NATS_URL="+nats.URL, "TICKETD_CLUSTER_PORT="+strconv.Itoa(port), "TICKETD_CLUSTER_BIN="+bin,
		"TICKETD_NATS_STREAM="+nats.Stream, "TICKETD_NATS_SUBJECT_PREFIX="+nats.SubjectPrefix, "TICKETD_LOG_LEVEL=warn")
	script := func(args ...string) (int, string) {
		cmd := exec.Command("../../scripts/cluster", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	t.Cleanup(func() {
		script("stop", "--drop-db")
		pgtest.Exec(t, server, `DROP DATABASE IF EXISTS `+dbName+` WITH (FORCE)`)
	})
	if code, out := script("start"); code != 0 {
		t.Fatalf("scripts/cluster start: exit %d\n%s", code, out)
	}
	lb := fmt.Sprintf("http://127.0.0.1:%d", port)
	var instances []string
	for i := 1; i <= 3; i++ {
		instances = append(instances, fmt.Sprintf("http://127.0.0.1:%d", port+i))
	}

	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 6 {
		resp, err := client.Post(lb+"/tickets/issue", "application/json",
			strings.NewReader(fmt.Sprintf(`{"theater_name":"CGV 강남","user_id":"u%d","movie_title":"영화 제목","price_krw":15000}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		var issued struct {
			TicketIDs []string `json:"ticket_ids"`
		}
		err = json.NewDecoder(resp.Body).Decode(&issued)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated || len(issued.TicketIDs) != 1 {
			t.Fatalf("issue through HAProxy: %d, %v", resp.StatusCode, err)
		}
		for _, base := range instances {
			req, _ := http.NewRequest("GET", base+"/tickets/"+issued.TicketIDs[0], nil)
			req.Header.Set("Ticketd-Min-Position", resp.Header.Get("Ticketd-Position"))
			got, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got.Body.Close()
			if got.StatusCode != http.StatusOK {
				t.Errorf("GET the ticket issued through HAProxy on %s with Ticketd-Min-Position %s: %d", base, resp.Header.Get("Ticketd-Position"), got.StatusCode)
			}
		}
	}
	var nodes []*clusterNode
	for i, base := range instances {
		nodes = append(nodes, &clusterNode{id: fmt.Sprint("ticketd-", i+1), addr: strings.TrimPrefix(base, "http://")})
	}
	waitOneLeader(t, client, nodes)

	code, out := script("status")
	if code != 0 || strings.Count(out, "pid ") != 4 || strings.Count(out, `"leader":true`) != 1 || strings.Count(out, `"leader":false`) != 2 {
		t.Errorf("scripts/cluster status: exit %d, want 0, four processes and one leader:\n%s", code, out)
	}
	var pids []int
	for _, name := range []string{"haproxy", "ticketd-1", "ticketd-2", "ticketd-3"} {
		raw, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}

	if code, out := script("stop", "--drop-db"); code != 0 {
		t.Fatalf("scripts/cluster stop --drop-db: exit %d\n%s", code, out)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d still runs after stop", pid)
		}
	}
	for i := range 4 {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port+i)); err == nil {
			conn.Close()
			t.Errorf("port %d still listens after stop", port+i)
		}
	}
	if code, out := script("status"); code != 3 || strings.Count(out, "not running") != 4 {
		t.Errorf("scripts/cluster status after stop: exit %d, want 3 and four processes not running:\n%s", code, out)
	}
	var left int
	conn := pgtest.Connect(t, server)
	defer conn.Close(t.Context())
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, dbName).Scan(&left); err != nil || left != 0 {
		t.Errorf("database %s left after stop --drop-db: %d, %v", dbName, left, err)
	}
}
