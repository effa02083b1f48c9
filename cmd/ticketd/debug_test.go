package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

// TestDebugListenerShowsNoSecret runs the binary with a secret in every
// flag that takes one, in each form the flag package reads, and requires
// that neither the debug listener's command line (expvar's cmdline,
// pprof's) nor the log (where the NATS relay's failing publishes name the
// server) shows any of them, while both show the redacted command line.
func TestDebugListenerShowsNoSecret(t *testing.T) {
	bin := parallelBinaryTest(t)
	servicetest.ForEachEngine(t, func(t *testing.T, e servicetest.Engine) {
		t.Parallel()
		const (
			clerkKey, analystKey = "clerk-secret-key-5f2a9c1e", "analyst-secret-key-7b3d0e8f"
			natsPassword, token  = "nats-secret-password", "nats-secret-token"
			dbPassword           = "db-secret-password"
		)
		db := e.Database(t, t.TempDir())
		if service.IsPostgres(db) {
			u, err := url.Parse(db)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(u.User.Username(), dbPassword) // the test server trusts loopback: any password does
			db = u.String()
		}
		addr, debugAddr := servicetest.FreeAddr(t), servicetest.FreeAddr(t)
		cmd := exec.Command(bin, "serve", "--addr", addr, "-debug-addr="+debugAddr, "--db", db,
			"--api-keys=analyst "+analystKey, "-api-keys", "clerk "+clerkKey, // the last one counts
			// Nothing listens on ports 1 and 2: the publisher keeps trying in the background.
			"--nats-url", "nats://ticketd:"+natsPassword+"@127.0.0.1:1,nats://"+token+"@127.0.0.1:2")
		var logs servicetest.SyncBuffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}()
		waitReady(t, "http://"+addr)
		// An event for the NATS relay, whose failing publishes log the URL.
		c := servicetest.NewClientAt(t, "http://"+addr)
		if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue, "X-API-Key", clerkKey); r.Status != http.StatusCreated {
			t.Fatalf("issue: %d %s", r.Status, r.Body)
		}
		servicetest.WaitWithin(t, 30*time.Second, "the NATS relay logs a failed publish", func() bool { return strings.Contains(logs.String(), "relay publish failed") })
		_, vars := servicetest.Get(t, "http://"+debugAddr+"/debug/vars")
		_, cmdline := servicetest.Get(t, "http://"+debugAddr+"/debug/pprof/cmdline")
		var parsed struct{ Cmdline []string }
		if err := json.Unmarshal([]byte(vars), &parsed); err != nil {
			t.Fatalf("/debug/vars is not JSON: %v\n%s", err, vars)
		}
		want := []string{bin, "serve", "--addr", addr, "-debug-addr=" + debugAddr, "--db", service.RedactDB(db),
			"--api-keys=xxxxx", "-api-keys", "xxxxx", "--nats-url", "nats://ticketd:xxxxx@127.0.0.1:1,nats://xxxxx@127.0.0.1:2"}
		if !reflect.DeepEqual(parsed.Cmdline, want) || cmdline != strings.Join(want, "\x00") {
			t.Errorf("the debug listener shows the command line\n%q and\n%q, want\n%q", parsed.Cmdline, cmdline, want)
		}
		for _, secret := range []string{clerkKey, analystKey, natsPassword, token, dbPassword} {
			for what, text := range map[string]string{"/debug/vars": vars, "/debug/pprof/cmdline": cmdline, "the log": logs.String()} {
				if strings.Contains(text, secret) {
					t.Errorf("%s shows the secret %q", what, secret)
				}
			}
		}
	})
}
