package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ticketd/ticketd/eventstore/parquetlog"
	"github.com/ticketd/ticketd/internal/service"
)

// parquetExport is what `ticketd export --format parquet` was asked.
type parquetExport struct {
	db                database
	out               string
	format, eventType string
	after, until      int64
	// afterSet says --after (or its variable) was given.
	afterSet bool
}

// runParquetExport runs `ticketd export --format parquet --out DIR`: see
// parquetlog.Export. It prints one line on stdout: what the run added, and
// the manifest's end as POSITION:HASH, a head `verify --expect-head` takes.
func runParquetExport(ctx context.Context, p parquetExport, stdout, stderr io.Writer) error {
	switch {
	case p.format != "parquet":
		return fmt.Errorf("%w: --out is for --format parquet; --format %s writes to stdout", errUsage, p.format)
	case p.out == "":
		return fmt.Errorf("%w: --format parquet needs --out DIR, the folder its files and manifest go to", errUsage)
	case p.eventType != "":
		return fmt.Errorf("%w: --type does not go with --format parquet, whose files hold every event so that loaders take each once; filter on the type column instead", errUsage)
	}
	if err := checkExportRange(p.after, p.until); err != nil {
		return err
	}
	store, _, err := p.db.open(ctx, service.DatabaseOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	opts := parquetlog.ExportOptions{Dir: p.out, Until: p.until}
	if p.afterSet {
		opts.After = &p.after
	}
	var bar *progress
	opts.Progress = func(done, total int64) {
		if bar == nil {
			bar = newProgress(stderr, "export", "events", total)
		}
		bar.update(done)
	}
	res, err := parquetlog.Export(ctx, store, opts)
	if bar != nil {
		bar.done()
	}
	manifest := filepath.Join(p.out, parquetlog.ManifestName)
	last, hash := res.Manifest.Last()
	switch {
	case errors.Is(err, parquetlog.ErrAfterConflict):
		return fmt.Errorf("%w: --after %d: %s ends at position %d; leave --after out to continue there, or use another --out", errUsage, p.after, manifest, last)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted after %d events; %s lists every event up to position %d, and the next run continues there", res.Events, manifest, last)
	case err != nil:
		return fmt.Errorf("--out %s: %w", p.out, err)
	}
	head := "no event yet"
	if hash != "" {
		head = fmt.Sprintf("%d:%s", last, hash)
	}
	files := "files"
	if len(res.Files) == 1 {
		files = "file"
	}
	fmt.Fprintf(stdout, "exported %d events in %d %s to %s; %s ends at %s\n", res.Events, len(res.Files), files, p.out, manifest, head)
	return nil
}
