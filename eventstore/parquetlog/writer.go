// Package parquetlog writes the event log as Parquet files for analysts:
// one row per event, with typed columns (see Columns), zstd-compressed, in
// bounded memory. Writer writes one file to any io.Writer (an HTTP response,
// say); Export keeps a folder of files and a manifest that loaders follow
// to take every event exactly once (see Export).
package parquetlog

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// RowGroupRows is how many rows a file's row groups hold by default (the
// last one fewer): a writer keeps one row group in memory, compressed page
// by page, so this bounds its memory, not the size of the file.
const RowGroupRows = 100_000

// WriterOptions configure a Writer. The zero value gets the defaults.
type WriterOptions struct {
	// RowGroupRows is how many rows a row group holds. Default RowGroupRows.
	RowGroupRows int64
}

// Footer keys: every file's key-value metadata tells the range of the log
// it holds, which lets Export take in a file the manifest missed.
const (
	keyFirstPosition = "ticketd.first_position"
	keyLastPosition  = "ticketd.last_position"
	keyLastHash      = "ticketd.last_hash"
)

// writeBatch is how many rows Writer hands the Parquet encoder at a time.
const writeBatch = 256

// Writer writes event records, in the order given, as one Parquet file.
// It is not safe for concurrent use.
type Writer struct {
	pw    *parquet.Writer
	rows  []parquet.Row
	n     int // rows buffered in rows
	count int64
	first int64
	last  eventstore.Record
}

// NewWriter returns a Writer of a file to w. Nothing is written to w before
// the first row group is complete or Close is called.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = RowGroupRows
	}
	rows := make([]parquet.Row, writeBatch)
	for i := range rows {
		rows[i] = make(parquet.Row, len(columns))
	}
	return &Writer{
		pw: parquet.NewWriter(w, fileSchema, parquet.Compression(codec),
			parquet.MaxRowsPerRowGroup(opts.RowGroupRows), parquet.CreatedBy("ticketd", "", "")),
		rows: rows,
	}
}

// Write adds r as the file's next row. It fails, writing nothing of r, when
// r's data or metadata does not decode (the error names r's position), and
// with the error of the underlying writer.
func (w *Writer) Write(r eventstore.Record) error {
	if err := fillRow(w.rows[w.n], r); err != nil {
		return fmt.Errorf("event at position %d: %w", r.Position, err)
	}
	w.n++
	if w.count == 0 {
		w.first = r.Position
	}
	w.count++
	w.last = r
	if w.n == len(w.rows) {
		return w.flushRows()
	}
	return nil
}

func (w *Writer) flushRows() error {
	_, err := w.pw.WriteRows(w.rows[:w.n])
	w.n = 0
	return err
}

// Rows returns how many records were written.
func (w *Writer) Rows() int64 { return w.count }

// Last returns the last record written; the zero Record before the first.
func (w *Writer) Last() eventstore.Record { return w.last }

// Close writes the rows still buffered and the file's footer. It does not
// close the io.Writer. The file is complete (a valid Parquet file, also
// with no rows) only when Close returns nil.
func (w *Writer) Close() error {
	if err := w.flushRows(); err != nil {
		return err
	}
	if w.count > 0 {
		w.pw.SetKeyValueMetadata(keyFirstPosition, strconv.FormatInt(w.first, 10))
		w.pw.SetKeyValueMetadata(keyLastPosition, strconv.FormatInt(w.last.Position, 10))
		w.pw.SetKeyValueMetadata(keyLastHash, w.last.Hash)
	}
	return w.pw.Close()
}

// fillRow sets row to the values of r, one per column.
func fillRow(row parquet.Row, r eventstore.Record) error {
	event, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return err
	}
	var md eventstore.Metadata
	if err := json.Unmarshal(r.Metadata, &md); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	row[colPosition] = required(colPosition, parquet.Int64Value(r.Position))
	row[colID] = required(colID, stringValue(r.ID))
	row[colStreamID] = required(colStreamID, stringValue(r.StreamID))
	row[colVersion] = required(colVersion, parquet.Int64Value(r.Version))
	row[colType] = required(colType, stringValue(r.Type))
	row[colOccurredAt] = required(colOccurredAt, timeValue(r.OccurredAt))
	for i := range dataFields {
		row[colData+i] = null(colData + i)
	}
	var failed error
	domain.DataValues(event, func(i int, v any) {
		value, err := dataValue(v)
		if err != nil && failed == nil {
			failed = fmt.Errorf("data member %s: %w", dataFields[i].Name, err)
		}
		row[colData+i] = optional(colData+i, value)
	})
	if failed != nil {
		return failed
	}
	row[colRequestID] = optionalString(colRequestID, md.RequestID)
	row[colCorrelationID] = optionalString(colCorrelationID, md.CorrelationID)
	row[colHash] = required(colHash, stringValue(r.Hash))
	return nil
}

// dataValue is the column value of a value domain.DataValues gives.
func dataValue(v any) (parquet.Value, error) {
	switch v := v.(type) {
	case string:
		return stringValue(v), nil
	case int64:
		return parquet.Int64Value(v), nil
	case bool:
		return parquet.BooleanValue(v), nil
	case float64:
		return parquet.DoubleValue(v), nil
	case time.Time:
		return timeValue(v), nil
	case json.RawMessage:
		return parquet.ByteArrayValue(v), nil
	}
	return parquet.Value{}, fmt.Errorf("no column type for %T", v)
}

func stringValue(s string) parquet.Value { return parquet.ByteArrayValue([]byte(s)) }

// timeValue is t as TIMESTAMP(MICROS, UTC) stores it.
func timeValue(t time.Time) parquet.Value { return parquet.Int64Value(t.UnixMicro()) }

func required(col int, v parquet.Value) parquet.Value { return v.Level(0, 0, col) }

func optional(col int, v parquet.Value) parquet.Value { return v.Level(0, 1, col) }

func null(col int) parquet.Value { return parquet.NullValue().Level(0, 0, col) }

// optionalString is s, or null when s is empty (a metadata member left out).
func optionalString(col int, s string) parquet.Value {
	if s == "" {
		return null(col)
	}
	return optional(col, stringValue(s))
}
