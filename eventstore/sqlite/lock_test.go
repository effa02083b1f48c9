package sqlite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
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

// A second writer is refused naming the first (pid and host), and a clean
// Close leaves no lock file beside the database.
func TestLockNamesItsHolderAndCloseRemovesTheLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	want := fmt.Sprintf("%s: %v: held by pid %d on %s since ", path, eventstore.ErrLocked, os.Getpid(), host)
	if !errors.Is(err, eventstore.ErrLocked) || !strings.HasPrefix(fmt.Sprint(err), want) {
		t.Errorf("second Open: %v; want ErrLocked starting %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Close: %v; want it removed", err)
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	again.Close()
}
