package parquetlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix starts the names of files being written under a temporary
// name: where the filesystem cannot create unnamed files, and a
// manifest's between its link and its rename. Loaders skip them (they are
// hidden and do not end in .parquet); Export deletes what a killed run
// left of them.
const tempPrefix = ".ticketd-export-"

// pendingFile is a file being written in a folder, visible under its final
// name only once published. On Linux it has no name at all until then (an
// O_TMPFILE file), so a process killed while writing it leaves nothing.
type pendingFile struct {
	*os.File
	dir string
	// temp is the file's temporary path, "" for an unnamed file.
	temp string
}

// createNamed creates a pending file under a temporary name in dir.
func createNamed(dir string) (*pendingFile, error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*.tmp")
	if err != nil {
		return nil, err
	}
	return &pendingFile{File: f, dir: dir, temp: f.Name()}, nil
}

// publish gives the written and synced file its name in the folder, in
// one step, and closes it. Without replace it fails when the name is
// taken; with replace it takes the place of the file of that name. The
// folder must be synced afterwards for the name to last a power loss.
func (p *pendingFile) publish(name string, replace bool) error {
	defer p.Close()
	final := filepath.Join(p.dir, name)
	if p.temp == "" {
		return p.linkUnnamed(final, replace)
	}
	if replace {
		return os.Rename(p.temp, final)
	}
	if err := os.Link(p.temp, final); err != nil {
		return err
	}
	return os.Remove(p.temp)
}

// discard closes and removes the pending file.
func (p *pendingFile) discard() {
	p.Close()
	if p.temp != "" {
		os.Remove(p.temp)
	}
}

// removeStale deletes what killed runs left under temporary names in dir.
func removeStale(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && !e.IsDir() {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
