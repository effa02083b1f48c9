package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/internal/pgtest"
	"github.com/ticketd/ticketd/internal/service/servicetest"
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

// exitAndOutput runs cmd and returns its exit code and its output, stdout
// and stderr together; a command that cannot run fails t.
func exitAndOutput(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// readmeClusterBlocks returns the ```bash blocks of docs/cluster.md, in order.
func readmeClusterBlocks(t *testing.T) []string {
	t.Helper()
	section := servicetest.RepoFile(t, "docs/cluster.md")
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, strings.ReplaceAll(m[1], "\n  ", "\n")) // the blocks are indented in a list
	}
	return blocks
}

// TestClusterScriptRunsTheREADMEExamples runs the three scripts/cluster
// blocks of README's "Several instances" as written, with the ports, the
// database, the NATS stream and the state folder of the test's own: start
// brings up three --cluster instances and HAProxy on the test's PostgreSQL
// and NATS and status lists all four; a ticket issued through HAProxy is
// read on every instance with the position token, and exactly one instance
// leads; stop --drop-db leaves no process, listener, database or NATS
// stream behind. It
// needs HAProxy (Debian's haproxy package), and skips without it unless CI
// is set.
func TestClusterScriptRunsTheREADMEExamples(t *testing.T) {
	nats := servicetest.NATSConfig(t, servicetest.NATSURL(t))
	server := pgtest.ServerURL(t)
	bin := parallelBinaryTest(t)
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it and sets CI")
		}
		t.Fatal("CI is set but haproxy is not installed")
	}
	blocks := readmeClusterBlocks(t)
	if len(blocks) != 3 || !strings.Contains(blocks[0], "scripts/cluster start") || !strings.Contains(blocks[2], "scripts/cluster stop --drop-db") {
		t.Fatalf("README's Several instances has %d bash blocks, want start, the examples and stop:\n%q", len(blocks), blocks)
	}
	var b [6]byte
	rand.Read(b[:])
	dbName := "ticketd_test_cluster_" + hex.EncodeToString(b[:])
	dir := t.TempDir()
	port := freePortRange(t, 4)
	script, err := filepath.Abs("../../scripts/cluster")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TICKETD_CLUSTER_DIR="+filepath.Join(dir, "state"), "TICKETD_CLUSTER_PG="+server, "TICKETD_CLUSTER_DB_NAME="+dbName,
		"TICKETD_CLUSTER_NATS_URL="+nats.URL, "TICKETD_CLUSTER_PORT="+strconv.Itoa(port), "TICKETD_CLUSTER_BIN="+bin,
		"TICKETD_NATS_STREAM="+nats.Stream, "TICKETD_NATS_SUBJECT_PREFIX="+nats.SubjectPrefix, "TICKETD_LOG_LEVEL=warn")
	run := func(block string) (int, string) {
		block = strings.ReplaceAll(block, "scripts/cluster", script)
		for i := range 4 {
			block = strings.ReplaceAll(block, fmt.Sprintf("localhost:%d", 9100+i), fmt.Sprintf("127.0.0.1:%d", port+i))
		}
		sh := exec.Command("bash", "-c", "set -eu\n"+block)
		sh.Dir, sh.Env = dir, env
		return exitAndOutput(t, sh)
	}
	t.Cleanup(func() {
		run("scripts/cluster stop --drop-db")
		pgtest.Exec(t, server, `DROP DATABASE IF EXISTS `+dbName+` WITH (FORCE)`)
	})

	code, out := run(blocks[0])
	if code != 0 || !strings.Contains(out, "cluster up: HAProxy on http://127.0.0.1:"+strconv.Itoa(port)) ||
		!strings.Contains(out, "/readyz through it: ready\n") || len(regexp.MustCompile(`(?m)^ticketd-(\d): pid \d+, http://127\.0\.0\.1:\d+, ready "instance":"ticketd-\d" "leader":(true|false)$`).FindAllString(out, -1)) != 3 ||
		strings.Count(out, `"leader":true`) != 1 {
		t.Fatalf("README's start and status: exit %d, want 0, the cluster up, HAProxy and three instances ready, one leading:\n%s", code, out)
	}
	code, out = run(blocks[1])
	if code != 0 || strings.Count(out, `"status":"issued"`) != 3 || strings.Count(out, `"leader":true`) != 1 || strings.Count(out, `"leader":false`) != 2 {
		t.Fatalf("README's examples: exit %d, want the ticket read on all three instances and one leader:\n%s", code, out)
	}
	var pids []int
	for _, name := range []string{"haproxy", "ticketd-1", "ticketd-2", "ticketd-3"} {
		raw, err := os.ReadFile(filepath.Join(dir, "state", name+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	requireHAProxyRoutesAroundAKilledInstance(t, fmt.Sprintf("http://127.0.0.1:%d", port), pids[2])

	if _, err := servicetest.JetStreamClient(t, nats.URL).Stream(t.Context(), nats.Stream); err != nil {
		t.Fatalf("the cluster's NATS stream %s before stop: %v", nats.Stream, err)
	}
	if code, out := run(blocks[2]); code != 0 || !strings.Contains(out, "dropped database "+dbName) || !strings.Contains(out, "dropped NATS stream "+nats.Stream) {
		t.Fatalf("README's stop --drop-db: exit %d, want the database and the NATS stream dropped\n%s", code, out)
	}
	if _, err := servicetest.JetStreamClient(t, nats.URL).Stream(t.Context(), nats.Stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("NATS stream %s after stop --drop-db: %v; want it deleted, so that the next cluster's tail shows no old events", nats.Stream, err)
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
	if code, out := run("scripts/cluster status"); code != 3 || strings.Count(out, "not running") != 4 {
		t.Errorf("scripts/cluster status after stop: exit %d, want 3 and four processes not running:\n%s", code, out)
	}
	var left int
	conn := pgtest.Connect(t, server)
	defer conn.Close(t.Context())
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, dbName).Scan(&left); err != nil || left != 0 {
		t.Errorf("database %s left after stop --drop-db: %d, %v", dbName, left, err)
	}
}

// requireHAProxyRoutesAroundAKilledInstance SIGKILLs the instance pid
// (one of HAProxy's three) and requires every issue sent through HAProxy
// at lb right after to succeed: a request whose connection to the dead
// instance fails is sent to another (retries, redispatch) until the health
// check on /readyz takes it out of rotation.
func requireHAProxyRoutesAroundAKilledInstance(t *testing.T, lb string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 30 {
		body := fmt.Sprintf(`{"theater_name":"CGV 강남","user_id":"after-kill-%d","movie_title":"영화 제목","price_krw":15000}`, i)
		resp, err := client.Post(lb+"/tickets/issue", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("issue %d through HAProxy after a kill: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("issue %d through HAProxy after an instance was killed: %d, want 201", i, resp.StatusCode)
		}
	}
}

// TestClusterScriptUsageErrorsExit2InOneLine also requires --help to name
// every TICKETD_CLUSTER_* variable the script reads.
func TestClusterScriptUsageErrorsExit2InOneLine(t *testing.T) {
	t.Parallel()
	script := func(env []string, args ...string) (int, string) {
		cmd := exec.Command("../../scripts/cluster", args...)
		cmd.Env = append(os.Environ(), env...)
		return exitAndOutput(t, cmd)
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "a command is required"},
		{nil, []string{"restart"}, "unknown command restart"},
		{nil, []string{"stop", "--drop"}, "unknown argument --drop"},
		{nil, []string{"start", "now"}, "start takes no arguments"},
		{[]string{"TICKETD_CLUSTER_PORT=70000"}, []string{"status"}, "TICKETD_CLUSTER_PORT=70000"},
		{[]string{"TICKETD_CLUSTER_DB_NAME=x; DROP"}, []string{"start"}, "TICKETD_CLUSTER_DB_NAME"},
	} {
		code, out := script(c.env, c.args...)
		if code != 2 || strings.Count(out, "\n") != 1 || !strings.Contains(out, c.want) {
			t.Errorf("scripts/cluster %q with %q: exit %d, output %q; want 2 and one line saying %q", c.args, c.env, code, out, c.want)
		}
	}
	code, help := script(nil, "--help")
	source, err := os.ReadFile("../../scripts/cluster")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`\$\{(TICKETD_CLUSTER_[A-Z_]+)`).FindAllStringSubmatch(string(source), -1) {
		if code != 0 || !strings.Contains(help, name[1]) {
			t.Errorf("scripts/cluster --help: exit %d, does not name %s:\n%s", code, name[1], help)
		}
	}
}
