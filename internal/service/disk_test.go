package service_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestReadinessFailsBelowMinFreeBytesNamingTheDisk(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.MinFreeBytes = 1 << 62 // more than any test machine has free
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	status, body := c.Readyz()
	disk := body.Checks["disk"]
	if status != http.StatusServiceUnavailable || disk.Status != "failing" || !strings.Contains(disk.Detail, "below the 4611686018427387904 required") ||
		!strings.Contains(body.Detail, "disk has only") {
		t.Fatalf("readyz with too little free space: %d %+v", status, body)
	}
	families := c.Scrape()
	if free := servicetest.MetricValue(families, "ticketd_disk_free_bytes"); free <= 0 {
		t.Errorf("ticketd_disk_free_bytes = %v", free)
	}
	info, err := os.Stat(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	if size := servicetest.MetricValue(families, "ticketd_database_size_bytes"); size < float64(info.Size()) {
		t.Errorf("ticketd_database_size_bytes = %v, below the database file's %d", size, info.Size())
	}
}

// mountTmpfs mounts a tmpfs of size (such as "64m") on a new folder and
// unmounts it at the end of the test; it skips the test unless root may mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestReadinessFailsWhenTheDatabasesFilesystemFillsPastMinFreeBytes(t *testing.T) {
	t.Parallel()
	fs := mountTmpfs(t, "64m")
	cfg := servicetest.Config(t.TempDir())
	cfg.DB = filepath.Join(fs, "app.db")
	cfg.MinFreeBytes = 32 << 20
	svc := servicetest.Start(t, cfg)
	c := servicetest.NewClient(t, svc)
	if status, body := c.Readyz(); status != http.StatusOK || body.Checks["disk"].Status != "ok" {
		t.Fatalf("readyz on a fresh 64 MiB filesystem: %d %+v", status, body)
	}
	before := servicetest.MetricValue(c.Scrape(), "ticketd_disk_free_bytes")
	if before > 64<<20 || before < 32<<20 {
		t.Fatalf("ticketd_disk_free_bytes = %v on a 64 MiB filesystem", before)
	}
	if err := os.WriteFile(filepath.Join(fs, "filler"), make([]byte, 40<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	status, body := c.Readyz()
	if status != http.StatusServiceUnavailable || body.Checks["disk"].Status != "failing" || !strings.Contains(body.Detail, "disk has only") {
		t.Fatalf("readyz with 40 MiB of 64 filled and 32 required: %d %+v", status, body)
	}
	if after := servicetest.MetricValue(c.Scrape(), "ticketd_disk_free_bytes"); before-after < 40<<20 {
		t.Errorf("ticketd_disk_free_bytes went from %v to %v after writing 40 MiB", before, after)
	}
	if r := c.Do("POST", "/tickets/issue", servicetest.SeedIssue); r.Status != http.StatusCreated {
		t.Errorf("unready for disk space but still able to write: issue got %d", r.Status)
	}
}
