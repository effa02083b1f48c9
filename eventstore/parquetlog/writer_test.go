package parquetlog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/parquetlog"
	"github.com/ticketd/ticketd/eventstore/parquetlog/parquettest"
)

// chain returns records of the given events, chained from position 1 as a
// log holds them, one a second from start.
func chain(t testing.TB, start time.Time, events ...domain.Event) []eventstore.Record {
	t.Helper()
	records := make([]eventstore.Record, len(events))
	prev := eventstore.GenesisHash
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := json.Marshal(eventstore.Metadata{RequestID: fmt.Sprint("req-", i/2), CorrelationID: "corr"})
		r := eventstore.Record{Position: int64(i + 1), ID: fmt.Sprintf("0193a5b2-7c1f-7000-8a00-%012d", i), StreamID: fmt.Sprintf("stream-%d", i/2),
			Version: int64(i%2 + 1), Type: e.EventType(), OccurredAt: start.Add(time.Duration(i) * time.Second),
			Data: data, Metadata: md, PrevHash: prev}
		r.Hash = r.ComputeHash()
		prev, records[i] = r.Hash, r
	}
	return records
}

func strp(s string) *string { return &s }

// writeFile writes records with a Writer of row groups of rowGroupRows
// (0: the default) and returns the file.
func writeFile(t testing.TB, rowGroupRows int64, records []eventstore.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquetlog.NewWriter(&buf, parquetlog.WriterOptions{RowGroupRows: rowGroupRows})
	for _, r := range records {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openFile(t testing.TB, b []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the file does not open: %v", err)
	}
	return f
}

func TestWriterWritesOneTypedColumnPerEnvelopeAndDataMember(t *testing.T) {
	start := time.Date(2026, 11, 25, 23, 59, 58, 123456000, time.UTC)
	records := chain(t, start,
		domain.TicketIssued{TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "파묘", PriceKRW: 15000, Memo: strp("VIP석")},
		domain.TicketRefunded{Reason: strp("late")},
		domain.TicketIssued{TheaterName: "메가박스 코엑스", UserID: "u2", MovieTitle: "웡카", PriceKRW: 9000},
		domain.TicketRefunded{},
	)
	records[3].Metadata = json.RawMessage(`{"request_id":"only"}`)
	records[3].Hash = records[3].ComputeHash()
	file := writeFile(t, 0, records)
	f := openFile(t, file)

	str, i64, ts := "BYTE_ARRAY STRING", "INT64 INT(64,true)", "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"
	want := []parquetlog.Column{
		{"position", i64, false}, {"id", str, false}, {"stream_id", str, false}, {"version", i64, false},
		{"type", str, false}, {"occurred_at", ts, false},
		{"theater_name", str, true}, {"user_id", str, true}, {"movie_title", str, true}, {"price_krw", i64, true},
		{"memo", str, true}, {"showing_id", str, true}, {"hold_id", str, true}, {"reason", str, true},
		{"starts_at", str, true}, {"capacity", i64, true}, {"per_buyer_limit", i64, true}, {"quantity", i64, true}, {"expires_at", ts, true},
		{"request_id", str, true}, {"correlation_id", str, true}, {"hash", str, false},
	}
	if got := parquetlog.Columns(); !slices.Equal(got, want) {
		t.Errorf("Columns() = %v\nwant %v", got, want)
	}
	fields := f.Schema().Fields()
	if len(fields) != len(want) {
		t.Fatalf("the file has %d columns, want %d:\n%s", len(fields), len(want), f.Schema())
	}
	for i, fl := range fields {
		typ := fl.Type().Kind().String()
		if lt := fl.Type().LogicalType(); lt != nil {
			typ += " " + lt.String()
		}
		if fl.Name() != want[i].Name || typ != want[i].Type || fl.Optional() != want[i].Nullable || (!fl.Optional() && !fl.Required()) {
			t.Errorf("column %d in the file: %s %s optional=%v; want %+v", i, fl.Name(), typ, fl.Optional(), want[i])
		}
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if codec := c.MetaData.Codec.String(); codec != "ZSTD" {
				t.Errorf("column %v is compressed with %s, want ZSTD", c.MetaData.PathInSchema, codec)
			}
		}
	}

	rows := parquettest.Rows(t, file)
	wantRows := []map[string]any{
		{"theater_name": "CGV 강남", "user_id": "user123", "movie_title": "파묘", "price_krw": int64(15000), "memo": "VIP석", "reason": nil,
			"request_id": "req-0", "correlation_id": "corr"},
		{"theater_name": nil, "user_id": nil, "movie_title": nil, "price_krw": nil, "memo": nil, "reason": "late",
			"request_id": "req-0", "correlation_id": "corr"},
		{"theater_name": "메가박스 코엑스", "user_id": "u2", "movie_title": "웡카", "price_krw": int64(9000), "memo": nil, "reason": nil,
			"request_id": "req-1", "correlation_id": "corr"},
		{"theater_name": nil, "user_id": nil, "movie_title": nil, "price_krw": nil, "memo": nil, "reason": nil,
			"request_id": "only", "correlation_id": nil},
	}
	if len(rows) != len(records) {
		t.Fatalf("%d rows, want %d", len(rows), len(records))
	}
	for i, r := range records {
		w := wantRows[i]
		w["position"], w["id"], w["stream_id"], w["version"], w["type"] = r.Position, r.ID, r.StreamID, r.Version, r.Type
		w["occurred_at"], w["hash"] = r.OccurredAt.UnixMicro(), r.Hash
		for _, c := range want {
			if _, named := w[c.Name]; !named {
				w[c.Name] = nil // the members of the other event types
			}
		}
		if fmt.Sprint(rows[i]) != fmt.Sprint(w) {
			t.Errorf("row %d:\n got %v\nwant %v", i, rows[i], w)
		}
	}
	for key, want := range map[string]string{"ticketd.first_position": "1", "ticketd.last_position": "4", "ticketd.last_hash": records[3].Hash} {
		if got, ok := f.Lookup(key); got != want || !ok {
			t.Errorf("footer %s = %q, want %q", key, got, want)
		}
	}
}

func TestWriterKeepsRowGroupsBounded(t *testing.T) {
	const rowGroup, n = 1000, 2*1000 + 5
	events := make([]domain.Event, n)
	for i := range events {
		events[i] = domain.TicketIssued{TheaterName: "CGV 강남", UserID: fmt.Sprint("user", i%1000), MovieTitle: "파묘", PriceKRW: 15000}
	}
	f := openFile(t, writeFile(t, rowGroup, chain(t, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), events...)))
	var sizes []int64
	for _, rg := range f.RowGroups() {
		sizes = append(sizes, rg.NumRows())
	}
	if want := []int64{rowGroup, rowGroup, 5}; !slices.Equal(sizes, want) {
		t.Errorf("row groups of %v rows, want %v", sizes, want)
	}
}

func TestWriterOfNoEventsWritesAnEmptyFile(t *testing.T) {
	f := openFile(t, writeFile(t, 0, nil))
	if f.NumRows() != 0 || len(f.Schema().Fields()) != len(parquetlog.Columns()) {
		t.Errorf("%d rows and %d columns, want 0 and %d", f.NumRows(), len(f.Schema().Fields()), len(parquetlog.Columns()))
	}
	if _, ok := f.Lookup("ticketd.last_hash"); ok {
		t.Error("an empty file names a last hash")
	}
}

func TestWriterRefusesAnEventItCannotDecode(t *testing.T) {
	good := chain(t, time.Now(), domain.TicketRefunded{})[0]
	for name, change := range map[string]func(*eventstore.Record){
		"unknown type":           func(r *eventstore.Record) { r.Type = "TicketEaten" },
		"data of another type":   func(r *eventstore.Record) { r.Data = json.RawMessage(`{"reason":15}`) },
		"metadata not an object": func(r *eventstore.Record) { r.Metadata = json.RawMessage(`[]`) },
	} {
		r := good
		r.Position = 42
		change(&r)
		w := parquetlog.NewWriter(io.Discard, parquetlog.WriterOptions{})
		if err := w.Write(r); err == nil || !strings.Contains(err.Error(), "position 42") {
			t.Errorf("%s: %v, want an error naming position 42", name, err)
		}
		if w.Rows() != 0 {
			t.Errorf("%s: the record was counted", name)
		}
	}
}
