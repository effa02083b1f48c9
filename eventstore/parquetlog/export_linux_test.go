package parquetlog

import (
	"context"
	"testing"
	"time"
)

func TestExportWritesNamedTemporaryFilesWhereUnnamedOnesAreMissing(t *testing.T) {
	unnamedFiles = false
	t.Cleanup(func() { unnamedFiles = true })
	log := newTestLog(t, day1)
	log.issue(t, day1.Add(-24*time.Hour), 3)
	log.issue(t, day1, 3)
	dir := t.TempDir()
	if _, err := Export(context.Background(), log, ExportOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if m := checkFolder(t, log, dir, 1); len(m.Files) != 2 {
		t.Errorf("files %v", manifestNames(m))
	}
}
