package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
)

// exportPage is how many events export reads per query; memory stays bounded by it.
const exportPage = 2000

func runExport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var db database
	var format, eventType, outDir string
	var after, until int64
	cmd := newCommand("export", "ticketd export [--db PATH|URL] [--after N] [--until N] [--format jsonl|csv] [--type T]\n       ticketd export [--db PATH|URL] --format parquet --out DIR [--after N] [--until N]",
		"Writes the event log to stdout in position order, in constant memory, safe on a live\n"+
			"database. jsonl: one event a line, the same JSON object GET /events returns, which\n"+
			"'ticketd import' loads with identical hashes. csv: a header, then one event a row with\n"+
			"data and metadata flattened into columns; a text cell starting with = + - @, a tab or a\n"+
			"carriage return gets a leading ' so that spreadsheets show it instead of running it as a\n"+
			"formula. Progress goes to stderr when it is a terminal.\n"+
			"parquet: Parquet files in the folder --out, one per UTC day of at most 1,000,000 events,\n"+
			"listed in DIR/manifest.json; each run continues where the manifest ends, so a scheduled\n"+
			"run loads every event exactly once (see docs/parquet.md). Progress goes to stderr.", stderr)
	db.register(cmd, "SQLite database file, or PostgreSQL database URL", pgSchemaReadUsage)
	cmd.Int64(&after, "after", "TICKETD_EXPORT_AFTER", 0, "export events after this position")
	cmd.Int64(&until, "until", "TICKETD_EXPORT_UNTIL", 0, "export events up to and including this position (0: to the end)")
	cmd.String(&format, "format", "TICKETD_EXPORT_FORMAT", "jsonl", "output format: jsonl, csv or parquet")
	cmd.String(&eventType, "type", "TICKETD_EXPORT_TYPE", "", "export only events of this type ("+strings.Join(domain.EventTypes, ", ")+")")
	cmd.String(&outDir, "out", "TICKETD_EXPORT_OUT", "", "folder the Parquet files and manifest.json go to, created if missing (--format parquet only)")
	if err := cmd.parse(args); err != nil {
		return err
	}
	if format == "parquet" || outDir != "" {
		return runParquetExport(ctx, parquetExport{db: db, out: outDir, format: format, eventType: eventType,
			after: after, afterSet: cmd.isSet("after"), until: until}, stdout, stderr)
	}
	var write func(eventstore.Record) error
	out := bufio.NewWriterSize(stdout, 256<<10)
	switch format {
	case "jsonl":
		enc := eventstore.NewRecordEncoder(out)
		write = enc.Encode
	case "csv":
		w := newCSVExporter(out)
		if err := w.header(); err != nil {
			return err
		}
		write = w.write
	default:
		return fmt.Errorf("%w: --format %q: must be jsonl, csv or parquet", errUsage, format)
	}
	var types []string
	switch {
	case eventType != "" && !domain.IsEventType(eventType):
		return fmt.Errorf("%w: --type %q: must be one of %s", errUsage, eventType, strings.Join(domain.EventTypes, ", "))
	case eventType != "":
		types = []string{eventType}
	}
	if err := checkExportRange(after, until); err != nil {
		return err
	}
	if until == 0 {
		until = math.MaxInt64
	}
	store, _, err := db.open(ctx, service.DatabaseOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	bar := newProgress(stderr, "export", "events", min(store.Head(), until)-after)
	if !bar.terminal {
		bar = nil
	}
	var n int64
	for pos := after; pos < until; {
		page, err := store.ReadAll(ctx, pos, exportPage, types...)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if r.Position > until {
				break
			}
			if err := write(r); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			n++
		}
		pos = page[len(page)-1].Position
		if bar != nil {
			bar.update(pos - after)
		}
	}
	if bar != nil {
		bar.done()
	}
	return out.Flush()
}

// checkExportRange checks --after and --until.
func checkExportRange(after, until int64) error {
	switch {
	case after < 0 || until < 0:
		return fmt.Errorf("%w: --after and --until must be at least 0", errUsage)
	case until > 0 && after >= until:
		return fmt.Errorf("%w: --after %d must be less than --until %d (0: to the end)", errUsage, after, until)
	}
	return nil
}

// csvColumns are the columns of a CSV export: the event's envelope, its data
// and metadata flattened (absent or null values are empty cells), its hashes.
// Every text cell goes through csvText; numbers are written as they are.
var csvColumns = []string{
	"position", "id", "stream_id", "version", "type", "occurred_at",
	"theater_name", "user_id", "movie_title", "price_krw", "memo", "reason",
	"request_id", "correlation_id", "idempotency_key", "prev_hash", "hash",
}

// formulaStarts are the first characters that make a spreadsheet read a
// cell as a formula or a command (OWASP's CSV injection list).
const formulaStarts = "=+-@\t\r"

// csvText returns text as a CSV cell of a text column: with a leading '
// when it starts with one of formulaStarts, so that a spreadsheet shows it
// as text instead of running it; otherwise as it is.
func csvText(text string) string {
	if text != "" && strings.ContainsRune(formulaStarts, rune(text[0])) {
		return "'" + text
	}
	return text
}

type csvExporter struct{ w *csv.Writer }

func newCSVExporter(w io.Writer) *csvExporter { return &csvExporter{w: csv.NewWriter(w)} }

func (e *csvExporter) header() error {
	return e.w.Write(csvColumns)
}

func (e *csvExporter) write(r eventstore.Record) error {
	fields := map[string]any{}
	if err := json.Unmarshal(r.Data, &fields); err != nil {
		return fmt.Errorf("event %d: data: %w", r.Position, err)
	}
	if err := json.Unmarshal(r.Metadata, &fields); err != nil {
		return fmt.Errorf("event %d: metadata: %w", r.Position, err)
	}
	fields["position"] = strconv.FormatInt(r.Position, 10)
	fields["id"], fields["stream_id"], fields["type"] = r.ID, r.StreamID, r.Type
	fields["version"] = strconv.FormatInt(r.Version, 10)
	fields["occurred_at"] = domain.FormatTime(r.OccurredAt)
	fields["prev_hash"], fields["hash"] = r.PrevHash, r.Hash
	row := make([]string, len(csvColumns))
	for i, col := range csvColumns {
		switch v := fields[col].(type) {
		case nil:
		case string:
			row[i] = csvText(v)
		case float64:
			row[i] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	if err := e.w.Write(row); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}
