// Package disk measures the disk a SQLite database lives on: the space left
// on its filesystem and the space the database takes.
package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Database is the disk use of the SQLite database at one path.
type Database struct{ path string }

// Of returns the disk use of the database file at path.
func Of(path string) Database { return Database{path: path} }

// FreeBytes returns the bytes left for unprivileged writers on the
// filesystem holding the database (what SQLite can still grow into). It
// fails when the filesystem cannot be queried.
func (d Database) FreeBytes() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(d.path), &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", filepath.Dir(d.path), err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// SizeBytes returns the bytes the database takes: its file, write-ahead log
// and shared-memory index. A missing -wal or -shm file counts 0; it fails
// when the database file itself cannot be read.
func (d Database) SizeBytes() (int64, error) {
	var total int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		info, err := os.Stat(d.path + suffix)
		switch {
		case suffix != "" && errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, fmt.Errorf("size of %s: %w", d.path+suffix, err)
		default:
			total += info.Size()
		}
	}
	return total, nil
}
