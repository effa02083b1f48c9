//go:build !linux

package parquetlog

import "errors"

// createPending creates a pending file in dir, under a temporary name:
// unnamed files are Linux's.
func createPending(dir string) (*pendingFile, error) { return createNamed(dir) }

func (p *pendingFile) linkUnnamed(string, bool) error {
	return errors.New("unnamed files are Linux's")
}
