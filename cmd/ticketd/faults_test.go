package main

import (
	"errors"
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

// fileFault is a real storage fault applied to a running service's database
// files from outside the process.
type fileFault struct {
	name string
	// dbDir prepares the folder the database lives in, skipping the test
	// when this machine cannot produce the fault.
	dbDir func(t *testing.T) string
	// database, when set, returns the --db to use instead of a file in
	// dbDir's folder.
	database func(t *testing.T) string
	// set makes the fault happen to the database at path; clear ends it.
	set, clear func(t *testing.T, path string)
	// atStart sets the fault before the service starts, on a seeded database.
	atStart bool
}

// chattr sets or clears the immutable attribute of the database file and of
// its write-ahead log: writes through descriptors the service already holds
// then fail with EPERM, even for root, exactly like a read-only file.
func chattr(t *testing.T, flag, path string) {
	t.Helper()
	files := []string{path}
	if _, err := os.Stat(path + "-wal"); err == nil {
		files = append(files, path+"-wal")
	}
	out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("chattr %s: %v: %s", flag, err, out)
	}
}

var readOnlyFile = fileFault{
	name: "read-only file",
	dbDir: func(t *testing.T) string {
		dir := t.TempDir()
		probe := filepath.Join(dir, "probe")
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("chattr", "+i", probe).CombinedOutput()
		if err != nil {
			t.Skipf("read-only file fault needs chattr +i (ext4 or xfs, CAP_LINUX_IMMUTABLE): %v: %s", err, out)
		}
		exec.Command("chattr", "-i", probe).Run()
		return dir
	},
	set: func(t *testing.T, path string) {
		chattr(t, "+i", path)
		t.Cleanup(func() { exec.Command("chattr", "-i", path, path+"-wal").Run() })
	},
	clear: func(t *testing.T, path string) { chattr(t, "-i", path) },
}

// readOnlyFileAtStart starts the service on a file that is already
// read-only: SQLite opens it for reading only, and the service has to reopen
// it to find it writable again.
var readOnlyFileAtStart = fileFault{name: "read-only file at start", dbDir: readOnlyFile.dbDir,
	set: readOnlyFile.set, clear: readOnlyFile.clear, atStart: true}

// fullDisk puts the database on its own 4 MiB tmpfs and fills what is left
// of it with a file, which clear removes.
var fullDisk = fileFault{
	name: "disk full",
	dbDir: func(t *testing.T) string {
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
			t.Skipf("disk full fault needs to mount a small tmpfs (root): %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
		return dir
	},
	set: func(t *testing.T, path string) {
		filler, err := os.Create(filepath.Join(filepath.Dir(path), "filler"))
		if err != nil {
			t.Fatal(err)
		}
		defer filler.Close()
		chunk := make([]byte, 4096)
		for {
			if _, err := filler.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill the disk: %v", err)
				}
				return
			}
		}
	},
	clear: func(t *testing.T, path string) {
		if err := os.Remove(filepath.Join(filepath.Dir(path), "filler")); err != nil {
			t.Fatal(err)
		}
	},
}

// readOnlyPostgres makes a PostgreSQL database read-only for every new
// session (default_transaction_read_only, as on a standby) and ends the
// service's sessions, so that it reconnects to a database that refuses
// writes (SQLSTATE 25006); clear lets new sessions write again.
var readOnlyPostgres = fileFault{
	name:     "read-only PostgreSQL database",
	dbDir:    func(t *testing.T) string { return t.TempDir() },
	database: func(t *testing.T) string { return pgtest.FreshDatabase(t) },
	set: func(t *testing.T, db string) {
		pgtest.Exec(t, pgtest.ServerURL(t), `ALTER DATABASE `+pgtest.Name(t, db)+` SET default_transaction_read_only = on`)
		pgtest.Terminate(t, db)
		// The pool pings a connection idle for over a second before handing
		// it out, so after this pause the terminated ones are replaced, not
		// failed on: what remains is the read-only fault itself.
		time.Sleep(1500 * time.Millisecond)
	},
	clear: func(t *testing.T, db string) {
		pgtest.Exec(t, pgtest.ServerURL(t), `ALTER DATABASE `+pgtest.Name(t, db)+` RESET default_transaction_read_only`)
	},
}

// TestStorageFaultsAnswer503KeepReadsAndHeal runs the service on a database
// whose files stop taking writes (read-only file, full disk) and checks that
// commands then answer 503 problem+json promptly, that reads keep working,
// that the service takes commands again by itself once the fault clears, and
// that the log verifies afterwards with every acknowledged ticket in it.
func TestStorageFaultsAnswer503KeepReadsAndHeal(t *testing.T) {
	t.Parallel()
	for _, fault := range []fileFault{readOnlyFile, readOnlyFileAtStart, fullDisk, readOnlyPostgres} {
		t.Run(fault.name, func(t *testing.T) {
			cfg := servicetest.Config(fault.dbDir(t))
			cfg.DB = filepath.Join(filepath.Dir(cfg.DB), "app.db")
			if fault.database != nil {
				cfg.DB = fault.database(t)
			}
			issue := map[string]any{"theater_name": "CGV 강남", "user_id": "user123", "movie_title": "영화 제목", "price_krw": 15000}
			var acked []string
			if fault.atStart {
				seeded := servicetest.Start(t, cfg)
				acked = servicetest.NewClient(t, seeded).IssueOK(issue)
				if err := seeded.Shutdown(); err != nil {
					t.Fatal(err)
				}
				fault.set(t, cfg.DB)
			}
			svc := servicetest.Start(t, cfg)
			c := servicetest.NewClient(t, svc)
			if !fault.atStart {
				acked = c.IssueOK(issue)
				fault.set(t, cfg.DB)
			}
			var refused servicetest.Response
			for range 5000 {
				start := time.Now()
				r := c.Do("POST", "/tickets/issue", issue)
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("issue under the fault took %v", took)
				}
				if r.Status == http.StatusCreated {
					acked = append(acked, servicetest.TicketIDs(t, r)...)
					continue
				}
				refused = r
				break
			}
			if refused.Status != http.StatusServiceUnavailable || refused.Header.Get("Retry-After") == "" {
				t.Fatalf("issue under the fault = %d (Retry-After %q) %s; want 503 with Retry-After", refused.Status, refused.Header.Get("Retry-After"), refused.Body)
			}
			if r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": acked[:1]}); r.Status != http.StatusServiceUnavailable {
				t.Errorf("refund under the fault = %d %s, want 503", r.Status, r.Body)
			}
			for _, path := range []string{"/tickets/" + acked[0], "/tickets?user_id=user123&limit=5", "/events?limit=5", "/healthz"} {
				if r := c.Do("GET", path, nil); r.Status != http.StatusOK {
					t.Errorf("GET %s under the fault = %d %s", path, r.Status, r.Body)
				}
			}
			if r := c.Do("GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "database") {
				t.Errorf("GET /readyz under the fault = %d %s, want 503 naming the database", r.Status, r.Body)
			}

			fault.clear(t, cfg.DB)
			healed := time.Now().Add(15 * time.Second)
			for {
				r := c.Do("POST", "/tickets/issue", issue)
				if r.Status == http.StatusCreated {
					acked = append(acked, servicetest.TicketIDs(t, r)...)
					break
				}
				if time.Now().After(healed) {
					t.Fatalf("issue 15 s after the fault cleared = %d %s", r.Status, r.Body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if r := c.Do("POST", "/tickets/refund", map[string]any{"ticket_ids": acked[:1]}); r.Status != http.StatusOK {
				t.Errorf("refund after the fault cleared = %d %s", r.Status, r.Body)
			}
			if r := c.Do("GET", "/readyz", nil); r.Status != http.StatusOK {
				t.Errorf("GET /readyz after the fault cleared = %d %s", r.Status, r.Body)
			}
			for _, id := range acked {
				if r := c.Do("GET", "/tickets/"+id, nil); r.Status != http.StatusOK {
					t.Errorf("acknowledged ticket %s: GET = %d", id, r.Status)
				}
			}
			if err := svc.Shutdown(); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if code, stdout, stderr := runCLI(t, "", "verify", "--db", cfg.DB); code != 0 {
				t.Fatalf("verify after the fault = exit %d\n%s%s", code, stdout, stderr)
			}
			t.Logf("%s: %d tickets acknowledged, commands refused with 503 during the fault, healed", fault.name, len(acked))
		})
	}
}
