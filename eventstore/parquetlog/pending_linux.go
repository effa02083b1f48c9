package parquetlog

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createPending creates a pending file in dir: an unnamed one, or a named
// one where the filesystem (or a missing /proc) does not allow naming an
// unnamed file later.
func createPending(dir string) (*pendingFile, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return createNamed(dir)
	case err != nil:
		return nil, &os.PathError{Op: "create", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)"))
	if _, err := os.Stat(procPath(f)); err != nil {
		f.Close()
		return createNamed(dir)
	}
	return &pendingFile{File: f, dir: dir}, nil
}

func procPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// linkUnnamed names the unnamed file final; with replace it is linked
// under a temporary name first and renamed over final.
func (p *pendingFile) linkUnnamed(final string, replace bool) error {
	target := final
	if replace {
		target = filepath.Join(p.dir, tempPrefix+filepath.Base(final)+".tmp")
		os.Remove(target)
	}
	if err := unix.Linkat(unix.AT_FDCWD, procPath(p.File), unix.AT_FDCWD, target, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: p.Name(), New: target, Err: err}
	}
	if replace {
		return os.Rename(target, final)
	}
	return nil
}
