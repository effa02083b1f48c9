package parquetlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/parquetlog"
	"github.com/ticketd/ticketd/eventstore/parquetlog/parquettest"
	"github.com/ticketd/ticketd/eventstore/sqlite"
)

// testLog is a SQLite event log whose events occur when its clock says.
type testLog struct {
	*sqlite.Store
	mu  sync.Mutex
	now time.Time
}

func newTestLog(t *testing.T, start time.Time) *testLog {
	t.Helper()
	l := &testLog{now: start}
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"), sqlite.Options{Now: func() time.Time {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.now
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	l.Store = store
	return l
}

// issue appends n issues, in one append, at the time at.
func (l *testLog) issue(t *testing.T, at time.Time, n int) {
	t.Helper()
	l.mu.Lock()
	l.now = at
	l.mu.Unlock()
	req := eventstore.AppendRequest{Metadata: eventstore.Metadata{RequestID: "r", CorrelationID: "c"}}
	for i := range n {
		req.Streams = append(req.Streams, eventstore.StreamAppend{StreamID: uuid.NewString(), Events: []domain.Event{
			domain.TicketIssued{TheaterName: fmt.Sprint("theater ", i%3), UserID: "u", MovieTitle: "m", PriceKRW: int64(1000 * (i + 1))},
		}})
	}
	if _, err := l.Append(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

var day1 = time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)

// checkFolder checks dir as parquettest.Folder does, that its files start
// at position first and that each ends on the log's hash there; it returns
// the manifest.
func checkFolder(t *testing.T, log *testLog, dir string, first int64) parquetlog.Manifest {
	t.Helper()
	m, positions := parquettest.Folder(t, dir)
	if len(positions) > 0 && positions[0] != first {
		t.Errorf("the folder starts at position %d, want %d", positions[0], first)
	}
	for _, f := range m.Files {
		if hash, _, _ := log.StoredHash(context.Background(), f.LastPosition); hash != f.LastHash {
			t.Errorf("%s: last_hash %s, the log's is %s", f.Name, f.LastHash, hash)
		}
	}
	return m
}

// mustExport runs Export, failing t on an error.
func mustExport(t *testing.T, log *testLog, opts parquetlog.ExportOptions) parquetlog.ExportResult {
	t.Helper()
	res, err := parquetlog.Export(context.Background(), log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// fileName is the name the contract gives the file of positions first to last.
func fileName(first, last int64) string {
	return fmt.Sprintf("events-%019d-%019d.parquet", first, last)
}

func manifestNames(m parquetlog.Manifest) []string {
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	return names
}

func TestExportWritesAFilePerDayOfAtMostMaxFileRows(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 5)                                   // 1-5 on the 24th
	log.issue(t, day1.Add(2*time.Hour-time.Microsecond), 1) // 6, 23:59:59.999999
	log.issue(t, day1.Add(2*time.Hour), 6)                  // 7-12 on the 25th
	log.issue(t, day1.Add(2*time.Hour+48*time.Hour), 1)     // 13 on the 27th
	dir := filepath.Join(t.TempDir(), "new", "folder")
	res, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := checkFolder(t, log, dir, 1)
	want := []string{fileName(1, 4), fileName(5, 6), fileName(7, 10), fileName(11, 12), fileName(13, 13)}
	if !slices.Equal(manifestNames(m), want) {
		t.Errorf("files %v, want %v", manifestNames(m), want)
	}
	if res.Events != 13 || !slices.Equal(manifestNames(parquetlog.Manifest{Files: res.Files}), want) {
		t.Errorf("result: %d events, files %v", res.Events, manifestNames(parquetlog.Manifest{Files: res.Files}))
	}
	if fileName(1, 4) != "events-0000000000000000001-0000000000000000004.parquet" {
		t.Errorf("file name %s", fileName(1, 4))
	}
}

func TestExportRunsContinueWhereTheManifestEnds(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 7)
	dir := t.TempDir()
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, Until: 3})
	if m := checkFolder(t, log, dir, 1); !slices.Equal(manifestNames(m), []string{fileName(1, 3)}) {
		t.Fatalf("--until 3: %v", manifestNames(m))
	}
	var progress []int64
	res, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, Progress: func(n, _ int64) { progress = append(progress, n) }})
	if err != nil || res.Events != 4 || !slices.Equal(progress, []int64{0, 4}) {
		t.Fatalf("second run: %+v, %v, progress %v", res, err, progress)
	}
	res, err = parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir})
	if err != nil || res.Events != 0 || len(res.Files) != 0 {
		t.Fatalf("run with nothing new: %+v, %v", res, err)
	}
	log.issue(t, day1.Add(time.Minute), 2)
	after := int64(7)
	if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, After: &after}); err != nil {
		t.Fatalf("--after at the manifest's end: %v", err)
	}
	m := checkFolder(t, log, dir, 1)
	if want := []string{fileName(1, 3), fileName(4, 7), fileName(8, 9)}; !slices.Equal(manifestNames(m), want) {
		t.Errorf("files %v, want %v", manifestNames(m), want)
	}
	if pos, hash := m.Last(); pos != 9 || hash != mustHash(t, log, 9) {
		t.Errorf("Last() = %d %s", pos, hash)
	}
}

func mustHash(t *testing.T, log *testLog, pos int64) string {
	t.Helper()
	hash, found, err := log.StoredHash(context.Background(), pos)
	if err != nil || !found {
		t.Fatal(err, found)
	}
	return hash
}

func TestExportStartsANewFolderAfterAPosition(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 5)
	dir := t.TempDir()
	after := int64(2)
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, After: &after})
	checkFolder(t, log, dir, 3)
}

func TestExportRefusesAnAfterThatDoesNotContinueTheManifest(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 5)
	dir := t.TempDir()
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, Until: 3})
	before, _ := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName))
	for _, after := range []int64{0, 2, 4} {
		if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, After: &after}); !errors.Is(err, parquetlog.ErrAfterConflict) {
			t.Errorf("--after %d: %v, want parquetlog.ErrAfterConflict", after, err)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName)); string(now) != string(before) {
		t.Error("a refused run changed the manifest")
	}
	checkFolder(t, log, dir, 1)
}

func TestExportRefusesTheManifestOfAnotherLog(t *testing.T) {
	log, other := newTestLog(t, day1), newTestLog(t, day1)
	log.issue(t, day1, 3)
	other.issue(t, day1, 5)
	dir := t.TempDir()
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir})
	_, err := parquetlog.Export(context.Background(), other, parquetlog.ExportOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "which the log does not have there") {
		t.Errorf("export of another log into the folder: %v", err)
	}
	checkFolder(t, log, dir, 1)
}

func TestExportStoppedByItsContextListsOnlyCompleteFiles(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 2*parquetlog.PageSize+10)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := parquetlog.Export(ctx, log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 900, Progress: func(done, _ int64) {
		if done > 0 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	m := checkFolder(t, log, dir, 1)
	if last, _ := m.Last(); len(res.Files) != 2 || last != 1800 {
		t.Errorf("after one page of %d: %v", parquetlog.PageSize, manifestNames(m))
	}
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 900})
	if last, _ := checkFolder(t, log, dir, 1).Last(); last != 2*parquetlog.PageSize+10 {
		t.Errorf("the next run ends at %d", last)
	}
}

// dropLastListing rewrites dir's manifest without its last file, as a run
// killed between naming that file and listing it leaves the folder.
func dropLastListing(t *testing.T, dir string) parquetlog.ManifestFile {
	t.Helper()
	var m parquetlog.Manifest
	if b, err := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName)); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	dropped := m.Files[len(m.Files)-1]
	m.Files = m.Files[:len(m.Files)-1]
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, parquetlog.ManifestName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dropped
}

func TestExportListsTheFileAKilledRunLeftUnlisted(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 6)
	dir := t.TempDir()
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
	dropped := dropLastListing(t, dir)
	log.issue(t, day1, 1)
	res, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || res.Files[0] != dropped || res.Files[1].Name != fileName(7, 7) {
		t.Errorf("files listed by the run: %+v, want %+v first", res.Files, dropped)
	}
	checkFolder(t, log, dir, 1)
}

func TestExportRefusesUnlistedFilesItCannotVouchFor(t *testing.T) {
	for name, spoil := range map[string]func(t *testing.T, dir string, f parquetlog.ManifestFile){
		"truncated": func(t *testing.T, dir string, f parquetlog.ManifestFile) {
			if err := os.Truncate(filepath.Join(dir, f.Name), 100); err != nil {
				t.Fatal(err)
			}
		},
		"not continuing the manifest": func(t *testing.T, dir string, f parquetlog.ManifestFile) {
			if err := os.Rename(filepath.Join(dir, f.Name), filepath.Join(dir, fileName(f.FirstPosition+1, f.LastPosition))); err != nil {
				t.Fatal(err)
			}
		},
		"named for other positions": func(t *testing.T, dir string, f parquetlog.ManifestFile) {
			if err := os.Rename(filepath.Join(dir, f.Name), filepath.Join(dir, fileName(f.FirstPosition, f.LastPosition-1))); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			log := newTestLog(t, day1)
			log.issue(t, day1, 6)
			dir := t.TempDir()
			mustExport(t, log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
			spoil(t, dir, dropLastListing(t, dir))
			before, _ := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName))
			if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), "is not listed in manifest.json") {
				t.Errorf("run: %v, want an error naming the unlisted file", err)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName)); string(now) != string(before) {
				t.Error("the refused run changed the manifest")
			}
		})
	}
}

func TestExportRefusesAManifestItDidNotWrite(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 2)
	for name, manifest := range map[string]string{
		"not JSON":      `{"files": [`,
		"unknown field": `{"files": [], "after": 3}`,
		"gap":           fmt.Sprintf(`{"files": [%s, %s]}`, entry(1, 2), entry(4, 4)),
		"wrong rows":    strings.Replace(fmt.Sprintf(`{"files": [%s]}`, entry(1, 2)), `"rows": 2`, `"rows": 3`, 1),
		"odd name":      strings.Replace(fmt.Sprintf(`{"files": [%s]}`, entry(1, 2)), `.parquet`, `.pq`, 1),
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, parquetlog.ManifestName), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), parquetlog.ManifestName) {
			t.Errorf("%s: %v, want an error naming the manifest", name, err)
		}
	}
}

func entry(first, last int64) string {
	return fmt.Sprintf(`{"name": %q, "first_position": %d, "last_position": %d, "rows": %d, "sha256": %q, "last_hash": %q}`,
		fileName(first, last), first, last, last-first+1, strings.Repeat("a", 64), strings.Repeat("b", 64))
}

func TestExportDeletesWhatKilledRunsLeftUnderTemporaryNames(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 3)
	dir := t.TempDir()
	for _, name := range []string{".ticketd-export-123.tmp", ".ticketd-export-manifest.json.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir})
	checkFolder(t, log, dir, 1)
}

func TestExportWritesAFolderOneRunAtATime(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 3)
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir}); !errors.Is(err, parquetlog.ErrBusy) {
		t.Errorf("export while another holds the folder: %v, want parquetlog.ErrBusy", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused run wrote %v", entries)
	}
}

func TestExportIntoAnUnwritableFolderFailsBeforeReadingTheLog(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 3)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: filepath.Join(file, "out"), Progress: func(int64, int64) { t.Error("the export started") }})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("export under a file: %v, want a one-line error", err)
	}
}

func TestExportWritesAgainTheFilesAPowerLossTookFromTheManifestsEnd(t *testing.T) {
	log := newTestLog(t, day1)
	log.issue(t, day1, 10)
	dir := t.TempDir()
	mustExport(t, log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
	before := checkFolder(t, log, dir, 1)
	for _, f := range before.Files[1:] {
		if err := os.Remove(filepath.Join(dir, f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir, MaxFileRows: 4})
	if err != nil || res.Events != 6 {
		t.Fatalf("run after the loss: %+v, %v", res, err)
	}
	if after := checkFolder(t, log, dir, 1); !slices.Equal(after.Files, before.Files) {
		t.Errorf("files written again: %+v, want %+v", after.Files, before.Files)
	}

	if err := os.Remove(filepath.Join(dir, before.Files[1].Name)); err != nil {
		t.Fatal(err)
	}
	if _, err := parquetlog.Export(context.Background(), log, parquetlog.ExportOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), before.Files[1].Name) {
		t.Errorf("a file missing before present ones: %v, want an error naming it", err)
	}
}
