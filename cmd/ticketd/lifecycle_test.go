package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
	"github.com/ticketd/ticketd/projections/projectiontest"
)

// dumpTickets returns the tickets read table of database db (either engine)
// as text, its rows separated by ";".
func dumpTickets(t *testing.T, db string) string {
	t.Helper()
	store, tables, err := service.OpenDatabase(context.Background(), db, service.DatabaseOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return projectiontest.DumpTickets(t, store, tables)
}

func TestReplayRebuildsTheSameReadTable(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		svc := servicetest.Start(t, cfg)
		c := servicetest.NewClient(t, svc)
		for i := 0; i < 20; i++ {
			ids := c.IssueOK(servicetest.With(servicetest.SeedIssue, "quantity", 1+i%3, "user_id", fmt.Sprint("u", i%4), "memo", []any{nil, "m", "", `<b>&"큰따옴표"</b>`}[i%4]))
			if i%3 == 0 {
				c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": ids[:1], "reason": "고객 요청"})
			}
		}
		if err := svc.Shutdown(); err != nil {
			t.Fatal(err)
		}
		before := dumpTickets(t, cfg.DB)
		if strings.Count(before, ";") < 30 {
			t.Fatalf("table too small to be a meaningful check:\n%s", before)
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"replay", "--db", cfg.DB}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("replay exit %d: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "replayed ") || !strings.Contains(stdout.String(), " events in ") {
			t.Fatalf("replay output = %q", stdout.String())
		}
		if after := dumpTickets(t, cfg.DB); after != before {
			t.Fatalf("replay changed the read table:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func TestReplayRefusesADatabaseInUse(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		cfg := e.Config(t)
		servicetest.Start(t, cfg)
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"replay", "--db", cfg.DB}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "in use") {
			t.Fatalf("replay on a live database: exit %d, stderr %q", code, stderr.String())
		}
	})
}

func TestCommandLineUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--help"}, 0, "ticketd replay"},
		{[]string{"help"}, 0, "ticketd [serve]"},
		{[]string{"help", "replay"}, 0, "--db"},
		{[]string{"serve", "--help"}, 0, "TICKETD_ADDR"},
		{[]string{"serve", "-h"}, 0, "TICKETD_DB"},
		{[]string{"replay", "--help"}, 0, "TICKETD_DB"},
		{[]string{"bogus"}, 2, "unknown command"},
		{[]string{"help", "bogus"}, 2, "unknown command"},
		{[]string{"help", "help"}, 0, "ticketd [serve]"},
		{[]string{"help", "version"}, 0, "ticketd version"},
		{[]string{"serve", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"serve", "--consistency-timeout", "soon"}, 2, "consistency-timeout"},
		{[]string{"serve", "--log-level", "loud"}, 2, "log-level"},
		{[]string{"serve", "--body-limit", "0"}, 2, "body-limit"},
		{[]string{"serve", "extra"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, nil, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.contains) {
			t.Errorf("ticketd %v: exit %d, want %d with %q in:\n%s%s", tt.args, code, tt.code, tt.contains, stdout.String(), stderr.String())
		}
	}
}

func TestEveryServeFlagHasAnEnvironmentVariable(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, nil, &stderr, &stderr)
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		if strings.Contains(line, "(default") && !strings.Contains(line, "[$TICKETD_") {
			t.Errorf("flag without environment variable: %q", line)
		}
	}
}

// buildBinary compiles ticketd once per test binary run, with
// scripts/build.sh: the tests run the binary that ships, and share the build
// cache with the build step of .ci/run and with TestBuildScriptStampsTheVersion.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ticketd-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ticketd")
	out, err := exec.Command("../../scripts/build.sh", bin).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("scripts/build.sh: %v\n%s", err, out)
	}
	return bin, nil
})

// parallelBinaryTest marks t parallel and returns the ticketd binary; with
// -short it skips t instead.
func parallelBinaryTest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("service at %s never answered", base)
}

func TestBinaryUsesDefaultsAndEnvAndStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		bin := parallelBinaryTest(t)
		workdir := t.TempDir()
		addr := servicetest.FreeAddr(t)
		cmd := exec.Command(bin)
		cmd.Dir = workdir
		cmd.Env = append(os.Environ(), "TICKETD_ADDR="+addr, "TICKETD_LOG_FORMAT=json")
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		waitReady(t, base)
		if _, err := os.Stat(filepath.Join(workdir, "data", "app.db")); err != nil {
			t.Fatalf("default database data/app.db not created: %v", err)
		}

		// Requests in flight when SIGTERM arrives still complete.
		var wg sync.WaitGroup
		statuses := make(chan int, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := strings.NewReader(`{"theater_name":"CGV 강남","user_id":"u","movie_title":"m","price_krw":15000,"quantity":3}`)
				resp, err := http.Post(base+"/tickets/issue", "application/json", body)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		time.Sleep(5 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(statuses)
		acknowledged := 0
		for s := range statuses {
			switch s {
			case http.StatusCreated:
				acknowledged++
			case 0: // connection refused after the listener closed: never accepted
			default:
				t.Errorf("in-flight request got %d", s)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
		if !strings.Contains(logs.String(), `"msg":"stopped cleanly"`) {
			t.Fatalf("no clean-stop log line:\n%s", logs.String())
		}

		// Every acknowledged issue is in the log after the stop.
		cfg := e.Config(t)
		cfg.DB = filepath.Join(workdir, "data", "app.db")
		c := servicetest.NewClient(t, servicetest.Start(t, cfg))
		if n := c.LogHead(); n != 3*acknowledged {
			t.Fatalf("log has %d events, %d issues of 3 were acknowledged", n, acknowledged)
		}
	})
}
