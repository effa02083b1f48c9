package parquetlog

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ticketd/ticketd/eventstore"
)

// MaxFileRows is how many events a file of an export folder holds at most.
const MaxFileRows = 1_000_000

// PageSize is how many events are read from the log at a time.
const PageSize = 2000

// Reader is the log WriteRange reads.
type Reader interface {
	// ReadAll returns up to limit events with position > after, in position order.
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]eventstore.Record, error)
}

// Source is the log Export reads.
type Source interface {
	Reader
	// StoredHash returns the stored hash of the event at position, or found=false.
	StoredHash(ctx context.Context, position int64) (hash string, found bool, err error)
	// Head returns the position of the last committed event.
	Head() int64
}

// eachPage calls fn with the events with position > after and <= until,
// in position order, a page at a time, until fn fails or there are none.
func eachPage(ctx context.Context, src Reader, after, until int64, fn func([]eventstore.Record) error) error {
	for pos := after; pos < until; {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := src.ReadAll(ctx, pos, int(min(PageSize, until-pos)))
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if i := slices.IndexFunc(page, func(r eventstore.Record) bool { return r.Position > until }); i >= 0 {
			page = page[:i]
		}
		if err := fn(page); err != nil {
			return err
		}
		pos = page[len(page)-1].Position
	}
	return nil
}

// WriteRange writes the events with position > after and <= until to w as
// one Parquet file, reading src a page at a time, and returns how many it
// wrote. Until nothing is written to w, a failure leaves w untouched; after,
// w holds an incomplete file.
func WriteRange(ctx context.Context, src Reader, w io.Writer, after, until int64, opts WriterOptions) (int64, error) {
	pw := NewWriter(w, opts)
	err := eachPage(ctx, src, after, until, func(page []eventstore.Record) error {
		for _, r := range page {
			if err := pw.Write(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return pw.Rows(), err
	}
	return pw.Rows(), pw.Close()
}

// ErrAfterConflict is returned by Export when ExportOptions.After is not
// where the folder's manifest ends: exporting from there would leave a
// gap or load events twice.
var ErrAfterConflict = errors.New("after does not continue the manifest")

// ErrBusy is returned by Export when another export is writing the folder.
var ErrBusy = errors.New("another export is writing the folder")

// ExportOptions say what Export writes where.
type ExportOptions struct {
	// Dir is the export folder, created with its parents when missing.
	Dir string
	// After, when set, is the position after which to export; it must be
	// where the manifest ends when the folder has one. Nil continues after
	// the manifest's last position (0 for a new folder).
	After *int64
	// Until is the last position to export; 0 is the log's head as Export
	// starts (events committed meanwhile are left to the next run).
	Until int64
	// MaxFileRows caps the rows of a file. Default MaxFileRows.
	MaxFileRows int64
	// Writer configures each file's writer.
	Writer WriterOptions
	// Progress, when set, is called before the first page is read and
	// after every page with how many events this run exported so far, of
	// how many it will.
	Progress func(done, total int64)
}

// ExportResult is what an Export did.
type ExportResult struct {
	// Files are the files this run added to the manifest, in order.
	Files []ManifestFile
	// Events counts the events in Files.
	Events int64
	// Manifest is the folder's manifest after the run.
	Manifest Manifest
}

// Export writes the events of src after the folder's manifest (or
// opts.After) as Parquet files into opts.Dir, and lists each in the
// folder's manifest (see Manifest) once it is complete and durable. A file
// holds the events of one UTC day of occurred_at, at most MaxFileRows, and
// is named after its positions (events-FIRST-LAST.parquet, zero-padded so
// names sort in position order). Run after run, the manifest grows by the
// events committed since, each in exactly one file.
//
// What a reader of the folder sees, however a run ends (an error, a
// cancelled ctx, the process killed): manifest.json is whole and lists only
// complete files, each whole under its name, and nothing else is there.
// Files are written unnamed (O_TMPFILE) and synced, the manifest listing
// them too, and only then linked and put in place, back to back (see
// commit): a killed run leaves no partial file. Where the filesystem has no
// unnamed files they are written under hidden .ticketd-export-*.tmp names,
// which a killed run leaves behind and the next run deletes. What the next
// run repairs before anything else: a file a run killed in the instant
// between linking it and replacing the manifest left unlisted (checked,
// then listed), and files at the manifest's end a power loss took (dropped
// from it, and exported again).
//
// One Export at a time writes a folder (ErrBusy). A manifest that does not
// end where the log has its last hash (a replaced or rewritten log) fails
// the run, as does opts.After not where the manifest ends (ErrAfterConflict).
// A cancelled ctx stops the run after the last complete file, returning
// ctx's error with the result so far.
func Export(ctx context.Context, src Source, opts ExportOptions) (ExportResult, error) {
	if opts.MaxFileRows <= 0 {
		opts.MaxFileRows = MaxFileRows
	}
	e := &exporter{src: src, opts: opts}
	err := e.run(ctx)
	return e.result, err
}

type exporter struct {
	src    Source
	opts   ExportOptions
	dir    *os.File
	result ExportResult
	cur    *openFile
}

// openFile is the file being written.
type openFile struct {
	pending *pendingFile
	buf     *bufio.Writer
	sum     hash.Hash
	w       *Writer
	day     time.Time
}

func (e *exporter) run(ctx context.Context) error {
	dir := e.opts.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	e.dir = d
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w", dir, ErrBusy)
		}
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := removeStale(dir); err != nil {
		return err
	}
	m, err := readManifest(dir)
	if err != nil {
		return err
	}
	e.result.Manifest = m
	if err := e.dropLost(); err != nil {
		return err
	}
	if err := e.adoptUnlisted(ctx); err != nil {
		return err
	}
	after, err := e.start(ctx)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		// A new folder gets its (empty) manifest at once, which also
		// proves the folder writable before the log is read.
		if err := e.writeManifest(e.result.Manifest); err != nil {
			return err
		}
	}
	until := e.src.Head()
	if e.opts.Until > 0 {
		until = min(until, e.opts.Until)
	}
	total := max(until-after, 0)
	if e.opts.Progress != nil {
		e.opts.Progress(0, total)
	}
	var exported int64
	err = eachPage(ctx, e.src, after, until, func(page []eventstore.Record) error {
		for _, r := range page {
			if err := e.write(r); err != nil {
				return err
			}
		}
		exported += int64(len(page))
		if e.opts.Progress != nil {
			e.opts.Progress(exported, total)
		}
		return nil
	})
	if err != nil {
		if e.cur != nil {
			e.cur.pending.discard()
		}
		return err
	}
	return e.commit()
}

// start returns the position to export after, checking that the manifest
// ends where the log has its hash.
func (e *exporter) start(ctx context.Context) (int64, error) {
	last, hash := e.result.Manifest.Last()
	if len(e.result.Manifest.Files) == 0 {
		if e.opts.After != nil {
			return *e.opts.After, nil
		}
		return 0, nil
	}
	if e.opts.After != nil && *e.opts.After != last {
		return 0, fmt.Errorf("%w: %s ends at position %d, not %d", ErrAfterConflict, filepath.Join(e.opts.Dir, ManifestName), last, *e.opts.After)
	}
	stored, found, err := e.src.StoredHash(ctx, last)
	if err != nil {
		return 0, err
	}
	if !found || stored != hash {
		return 0, fmt.Errorf("%s ends at position %d with hash %s, which the log does not have there: it is not this log's export, or the log was replaced",
			filepath.Join(e.opts.Dir, ManifestName), last, hash)
	}
	return last, nil
}

// write adds r to the current file, first committing it when r belongs to
// another day or the file is full.
func (e *exporter) write(r eventstore.Record) error {
	day := r.OccurredAt.UTC().Truncate(24 * time.Hour)
	if e.cur != nil && (!e.cur.day.Equal(day) || e.cur.w.Rows() >= e.opts.MaxFileRows) {
		if err := e.commit(); err != nil {
			return err
		}
	}
	if e.cur == nil {
		p, err := createPending(e.opts.Dir)
		if err != nil {
			return err
		}
		h := sha256.New()
		buf := bufio.NewWriterSize(io.MultiWriter(p, h), 256<<10)
		e.cur = &openFile{pending: p, buf: buf, sum: h, w: NewWriter(buf, e.opts.Writer), day: day}
	}
	return e.cur.w.Write(r)
}

// commit completes the current file, if any, makes it durable, names it and
// lists it in the manifest. It ignores ctx: once begun, it is finished.
//
// The file and the new manifest are both written and synced first; then
// the file is linked and the manifest replaced, back to back, and the
// folder synced once. So a killed process can leave the file unlisted only
// in the instant between two system calls (the next run lists it, see
// adoptUnlisted), and a power loss before the folder's sync, on a
// filesystem that does not keep the order of the two, the manifest listing
// a file that was lost (the next run drops it and exports its events
// again, see dropLost).
func (e *exporter) commit() error {
	cur := e.cur
	if cur == nil {
		return nil
	}
	e.cur = nil
	fail := func(err error) error {
		cur.pending.discard()
		return err
	}
	if err := cur.w.Close(); err != nil {
		return fail(err)
	}
	if err := cur.buf.Flush(); err != nil {
		return fail(err)
	}
	if err := cur.pending.Sync(); err != nil {
		return fail(err)
	}
	last := cur.w.Last()
	f := ManifestFile{Name: fileName(cur.w.first, last.Position), FirstPosition: cur.w.first, LastPosition: last.Position,
		Rows: cur.w.Rows(), SHA256: hex.EncodeToString(cur.sum.Sum(nil)), LastHash: last.Hash}
	m := e.result.Manifest
	m.Files = append(slices.Clip(m.Files), f)
	manifest, err := prepareManifest(e.opts.Dir, m)
	if err != nil {
		return fail(err)
	}
	if err := cur.pending.publish(f.Name, false); err != nil {
		manifest.discard()
		return fail(err)
	}
	if err := manifest.publish(ManifestName, true); err != nil {
		manifest.discard()
		os.Remove(filepath.Join(e.opts.Dir, f.Name))
		return err
	}
	e.listed(m, f)
	return e.dir.Sync()
}

// listed records that the manifest is now m, which lists f last.
func (e *exporter) listed(m Manifest, f ManifestFile) {
	e.result.Manifest = m
	e.result.Files = append(e.result.Files, f)
	e.result.Events += f.Rows
}

// writeManifest replaces the folder's manifest with m and syncs the folder.
func (e *exporter) writeManifest(m Manifest) error {
	p, err := prepareManifest(e.opts.Dir, m)
	if err != nil {
		return err
	}
	if err := p.publish(ManifestName, true); err != nil {
		p.discard()
		return err
	}
	e.result.Manifest = m
	return e.dir.Sync()
}

// dropLost drops from the end of the manifest the files that are missing,
// as a power loss can leave them (see commit), so that their events are
// exported again. A missing file before one that is present fails: the
// folder was changed by hand.
func (e *exporter) dropLost() error {
	m := e.result.Manifest
	files := m.Files
	for len(files) > 0 {
		_, err := os.Stat(filepath.Join(e.opts.Dir, files[len(files)-1].Name))
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		files = files[:len(files)-1]
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(e.opts.Dir, f.Name)); err != nil {
			return fmt.Errorf("%s lists %s, which is missing though later files are present", filepath.Join(e.opts.Dir, ManifestName), f.Name)
		}
	}
	if len(files) == len(m.Files) {
		return nil
	}
	m.Files = files
	return e.writeManifest(m)
}

// adoptUnlisted lists the file a run killed between naming it and writing
// the manifest left, once it is checked to be whole and to continue the
// manifest. Any other file named like an export file that the manifest
// does not list fails the run: it is not this folder's.
func (e *exporter) adoptUnlisted(ctx context.Context) error {
	entries, err := os.ReadDir(e.opts.Dir)
	if err != nil {
		return err
	}
	for _, entry := range entries {
		first, last, ok := parseFileName(entry.Name())
		if !ok || slices.ContainsFunc(e.result.Manifest.Files, func(f ManifestFile) bool { return f.Name == entry.Name() }) {
			continue
		}
		end, _ := e.result.Manifest.Last()
		if len(e.result.Manifest.Files) == 0 && e.opts.After != nil {
			end = *e.opts.After
		}
		path := filepath.Join(e.opts.Dir, entry.Name())
		if first != end+1 {
			return fmt.Errorf("%s is not listed in %s and does not continue it (at position %d): move it out of the folder", path, ManifestName, end)
		}
		f, err := e.checkUnlisted(ctx, path, first, last)
		if err != nil {
			return fmt.Errorf("%s is not listed in %s: %w; move it out of the folder", path, ManifestName, err)
		}
		m := e.result.Manifest
		m.Files = append(slices.Clip(m.Files), f)
		if err := e.writeManifest(m); err != nil {
			return err
		}
		e.listed(m, f)
	}
	return nil
}

// checkUnlisted returns the manifest entry of the file at path, which the
// name says holds positions first to last, after checking it: a readable
// Parquet file whose footer names the same positions and, as the log has
// it, the hash at last, with one row per position.
func (e *exporter) checkUnlisted(ctx context.Context, path string, first, last int64) (ManifestFile, error) {
	file, err := os.Open(path)
	if err != nil {
		return ManifestFile{}, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return ManifestFile{}, err
	}
	pf, err := parquet.OpenFile(file, info.Size())
	if err != nil {
		return ManifestFile{}, err
	}
	hash, _ := pf.Lookup(keyLastHash)
	firstKV, _ := pf.Lookup(keyFirstPosition)
	lastKV, _ := pf.Lookup(keyLastPosition)
	if firstKV != fmt.Sprint(first) || lastKV != fmt.Sprint(last) || pf.NumRows() != last-first+1 {
		return ManifestFile{}, fmt.Errorf("its footer does not say it holds positions %d to %d", first, last)
	}
	stored, found, err := e.src.StoredHash(ctx, last)
	if err != nil {
		return ManifestFile{}, err
	}
	if !found || stored != hash {
		return ManifestFile{}, fmt.Errorf("its last hash is not the log's at position %d", last)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(file, 0, info.Size())); err != nil {
		return ManifestFile{}, err
	}
	return ManifestFile{Name: filepath.Base(path), FirstPosition: first, LastPosition: last, Rows: pf.NumRows(),
		SHA256: hex.EncodeToString(h.Sum(nil)), LastHash: hash}, nil
}
