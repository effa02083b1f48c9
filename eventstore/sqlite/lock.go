package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ticketd/ticketd/eventstore"
)

// lockFile takes an exclusive advisory lock on path+".lock", held until the
// returned file is closed with unlockFile. The file names its holder (pid, host, since when); it fails
// with ErrLocked, naming the holder, when another process holds the lock.
//
// unlockFile removes the file before it releases the lock, so a lock taken
// on a file that is no longer at its path (removed by a holder between this
// open and this lock) is dropped and taken again on a fresh file.
func lockFile(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			holder := lockHolder(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s: %w: held by %s", path, eventstore.ErrLocked, holder)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !stillAt(f, path+".lock") {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
			continue
		}
		if err := writeHolder(f); err != nil {
			unlockFile(f)
			return nil, fmt.Errorf("lock file %s.lock: %w", path, err)
		}
		return f, nil
	}
}

// stillAt reports whether the open file f is the file at path.
func stillAt(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(path)
	return err == nil && os.SameFile(open, named)
}

// writeHolder writes into the lock file f the line lockHolder reads: this
// process's pid, host and the time it took the lock.
func writeHolder(f *os.File) error {
	host, err := os.Hostname()
	if err != nil {
		host = "an unknown host"
	}
	line := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(line), 0)
	return err
}

// lockHolder returns who holds the lock file f as its holder wrote it, or
// "a process that has not named itself yet" when the file is still empty.
func lockHolder(f *os.File) string {
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if holder := strings.TrimSpace(string(b)); err == nil && holder != "" {
		return holder
	}
	return "a process that has not named itself yet"
}

// lockHeld reports whether a process holds path's lock now: whether a
// writable store is open on it. It only tries a shared lock, released at
// once, and creates nothing.
func lockHeld(path string) bool {
	f, err := os.Open(path + ".lock")
	if err != nil {
		return false
	}
	defer f.Close()
	held := errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB), syscall.EWOULDBLOCK)
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return held
}

// unlockFile removes the lock file f, a lock taken by lockFile, releases its
// lock, then closes f. Removing before releasing keeps one holder at a time
// (see lockFile). Closing alone would not release the lock: a flock belongs
// to the open file, which a child forked by this process (before its exec
// closes the descriptor) shares, and it would keep the lock held after f is
// closed here.
func unlockFile(f *os.File) error {
	err := os.Remove(f.Name())
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, f.Close())
}
