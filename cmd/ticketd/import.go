package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/app"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

// importBatch is how many events one import transaction commits.
const importBatch = 2000

func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	var db database
	var input string
	var logs logConfig
	cmd := newCommand("import", "ticketd import [--db PATH|URL] [--in FILE]",
		"Loads a JSON-lines export (ticketd export --format jsonl) into an empty database,\n"+
			"keeping positions, ids, times and hashes, and refusing any event that does not\n"+
			"continue the hash chain. Then restores the showings' seat counters and holds\n"+
			"from the log and builds the read tables. Reads stdin unless --in is given.", stderr)
	db.register(cmd, "database to fill, which must hold no events: a SQLite file, created in a folder that exists when missing, or PostgreSQL database URL", pgSchemaUsage)
	cmd.String(&input, "in", "TICKETD_IMPORT_IN", "-", "file to read, - for stdin")
	logs.register(cmd)
	if err := cmd.parse(args); err != nil {
		return err
	}
	logger, err := logs.newLogger(stderr)
	if err != nil {
		return err
	}
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return err
		}
		defer f.Close()
		stdin = f
	}
	store, tables, err := db.open(ctx, service.DatabaseOptions{Logger: logger, Mode: eventstore.CreateInFolder})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			store.Abandon() // a database created by a failed import goes with it
		}
	}()
	if head := store.Head(); head != 0 {
		return fmt.Errorf("%s already holds %d events; import needs an empty database", db.String(), head)
	}
	start := time.Now()
	n, err := importLines(ctx, store, bufio.NewReaderSize(stdin, 1<<20), newProgress(stderr, "import", "events", 0))
	if err != nil {
		return err
	}
	// The imported events carried no claims: the counters that decide the
	// showings' next sales are folded from the log before anyone sells.
	ledger, err := projections.FoldSeats(ctx, store)
	if err != nil {
		return fmt.Errorf("fold the showings' seats: %w", err)
	}
	if err := app.RestoreSeats(ctx, store, ledger.Counts()); err != nil {
		return fmt.Errorf("restore the showings' seats: %w", err)
	}
	applied, err := projections.Rebuild(ctx, store, tables, nil)
	if err != nil {
		return fmt.Errorf("build read tables: %w", err)
	}
	took := time.Since(start)
	_, lastHash := store.LogHead()
	fmt.Fprintf(stdout, "imported %d events in %s (%.0f events/s); read tables built from %d events; last hash %s\n",
		n, took.Round(time.Millisecond), float64(n)/max(took.Seconds(), 1e-9), applied, lastHash)
	return store.Close()
}

// importLines reads JSON lines from r and imports them in batches, returning
// how many events it imported. A bad line fails the import, naming it.
func importLines(ctx context.Context, store eventstore.Appender, r *bufio.Reader, bar *progress) (int64, error) {
	defer bar.done()
	var n, line int64
	batch := make([]eventstore.Record, 0, importBatch)
	flush := func() error {
		if err := store.Import(ctx, batch); err != nil {
			return fmt.Errorf("import events ending at line %d: %w", line, err)
		}
		n += int64(len(batch))
		bar.update(n)
		batch = batch[:0]
		return nil
	}
	for {
		text, err := r.ReadBytes('\n')
		if len(text) > 0 {
			line++
			var rec eventstore.Record
			if jerr := json.Unmarshal(text, &rec); jerr != nil {
				return n, fmt.Errorf("line %d: not an exported event: %w", line, jerr)
			}
			batch = append(batch, rec)
			if len(batch) == importBatch {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read line %d: %w", line+1, err)
		}
	}
	return n, flush()
}
