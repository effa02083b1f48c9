package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A process this one starts can inherit the lock's descriptor (between
// fork and exec it holds every descriptor, and ExtraFiles keeps one for
// good): closing the store must release the lock all the same, so the next
// Open here or elsewhere is not refused as "in use by another ticketd".
func TestClosedStoreReleasesItsLockThoughAChildSharesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "30")
	child.ExtraFiles = []*os.File{s.lock}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if lockHeld(path) {
		t.Fatal("the lock is still held after Close")
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after Close while a child shares the lock file: %v", err)
	}
	again.Close()
}
