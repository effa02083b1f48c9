package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/ticketd/ticketd/eventstore"
)

// lockFile takes an exclusive advisory lock on path+".lock", held until the
// returned file is closed with unlockFile, and reports whether it created that file. It
// fails with ErrLocked when another process holds the lock.
func lockFile(path string) (*os.File, bool, error) {
	created := !fileExists(path + ".lock")
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, fmt.Errorf("%s: %w", path, eventstore.ErrLocked)
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, created, nil
}

// lockHeld reports whether a process holds path's lock now: whether a
// writable store is open on it. It only tries a shared lock, released at
// once, and creates nothing.
func lockHeld(path string) bool {
	f, err := os.Open(path + ".lock")
	if err != nil {
		return false
	}
	defer unlockFile(f)
	return errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB), syscall.EWOULDBLOCK)
}

// unlockFile releases f's lock, then closes f. Closing alone is not
// enough: a flock belongs to the open file, which a child forked by this
// process (before its exec closes the descriptor) shares, and it would keep
// the lock held after f is closed here.
func unlockFile(f *os.File) error {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return f.Close()
}
