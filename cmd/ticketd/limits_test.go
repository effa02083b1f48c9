package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestMaxStreamsOutOfRangeExits2NamingTheFlag(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "-1", "many", "2000000"} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), []string{"serve", "--max-streams", v}, nil, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "max-streams") {
			t.Errorf("--max-streams %s: exit %d, stderr %q", v, code, stderr.String())
		}
	}
}

func TestAuditVerifyRunsOneAtATimeOthersAre429WithRetryAfter(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	if err := seedStore(context.Background(), svc.Store(), defaultSeedPlan(5_000), func(int64) {}); err != nil {
		t.Fatal(err)
	}
	c := servicetest.NewClient(t, svc)
	const callers = 6
	var wg sync.WaitGroup
	statuses := make(chan servicetest.Response, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			statuses <- c.Do("GET", "/audit/verify", nil)
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for r := range statuses {
		counts[r.Status]++
		if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if counts[http.StatusOK] < 1 || counts[http.StatusTooManyRequests] < 1 || counts[http.StatusOK]+counts[http.StatusTooManyRequests] != callers {
		t.Fatalf("%d concurrent audits answered %v, want some 200 and the others 429", callers, counts)
	}
	if r := c.Do("GET", "/audit/verify", nil); r.Status != http.StatusOK {
		t.Fatalf("an audit after the others finished: %d", r.Status)
	}
}

// sendQueue returns the bytes queued in the kernel on the TCP socket from
// local to remote (IPv4), read from /proc/net/tcp.
func sendQueue(t *testing.T, local, remote *net.TCPAddr) int64 {
	t.Helper()
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	hexAddr := func(a *net.TCPAddr) string {
		ip := a.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
	}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 4 && f[1] == hexAddr(local) && f[2] == hexAddr(remote) {
			queues := strings.Split(f[4], ":")
			n, err := strconv.ParseInt(queues[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no socket %v -> %v in /proc/net/tcp", local, remote)
	return 0
}

func TestStalledStreamPinsLittleKernelMemory(t *testing.T) {
	t.Parallel()
	svc := servicetest.Start(t, servicetest.Config(t.TempDir()))
	if err := seedStore(context.Background(), svc.Store(), defaultSeedPlan(10_000), func(int64) {}); err != nil {
		t.Fatal(err)
	}
	// A reader that asks for the whole log and then reads nothing.
	conn, err := net.Dial("tcp", svc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events/stream?from=start HTTP/1.1\r\nHost: ticketd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	server, client := conn.RemoteAddr().(*net.TCPAddr), conn.LocalAddr().(*net.TCPAddr)
	var most int64
	for range 30 { // 3s for the send queue to fill as far as the kernel lets it
		time.Sleep(100 * time.Millisecond)
		most = max(most, sendQueue(t, server, client))
	}
	if most == 0 {
		t.Fatal("the stream sent nothing")
	}
	if most > 256<<10 {
		t.Fatalf("a stalled stream's socket holds %d bytes unsent, want at most 256 KiB", most)
	}
	t.Logf("most bytes queued on the stalled stream's socket: %d", most)
}
