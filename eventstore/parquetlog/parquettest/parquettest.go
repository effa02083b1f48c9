// Package parquettest reads what parquetlog writes, for tests: the rows of
// a file, and an export folder checked as a loader relies on it.
package parquettest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/ticketd/ticketd/eventstore/parquetlog"
)

// Rows reads the Parquet file b and returns every row as column name to
// value: an int64, a string (of a byte array), or nil for null. It fails tb
// when b is not a Parquet file.
func Rows(tb testing.TB, b []byte) []map[string]any {
	tb.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatalf("not a Parquet file: %v", err)
	}
	leaves := f.Schema().Columns()
	r := parquet.NewReader(f)
	defer r.Close()
	var out []map[string]any
	rows := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			m := map[string]any{}
			for _, v := range row {
				name := leaves[v.Column()][0]
				switch {
				case v.IsNull():
					m[name] = nil
				case v.Kind() == parquet.Int64:
					m[name] = v.Int64()
				default:
					m[name] = string(v.ByteArray())
				}
			}
			out = append(out, m)
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// Folder checks the export folder dir as a loader relies on it, failing tb
// otherwise: it holds manifest.json and exactly the files it lists, each
// with its SHA-256 and holding, in order, the positions the manifest gives
// it, the files following on from one another. It returns the manifest and
// every position of the files, in order.
func Folder(tb testing.TB, dir string) (parquetlog.Manifest, []int64) {
	tb.Helper()
	var m parquetlog.Manifest
	b, err := os.ReadFile(filepath.Join(dir, parquetlog.ManifestName))
	if err != nil || json.Unmarshal(b, &m) != nil {
		tb.Fatalf("%s: %v %s", parquetlog.ManifestName, err, b)
	}
	want := []string{parquetlog.ManifestName}
	var positions []int64
	for i, f := range m.Files {
		want = append(want, f.Name)
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			tb.Fatalf("a listed file is missing: %v", err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			tb.Errorf("%s: its SHA-256 is not the manifest's", f.Name)
		}
		if i > 0 && f.FirstPosition != m.Files[i-1].LastPosition+1 {
			tb.Errorf("%s does not follow on from %s", f.Name, m.Files[i-1].Name)
		}
		var got []int64
		for _, r := range Rows(tb, data) {
			got = append(got, r["position"].(int64))
		}
		var expected []int64
		for p := f.FirstPosition; p <= f.LastPosition; p++ {
			expected = append(expected, p)
		}
		if !slices.Equal(got, expected) || f.Rows != int64(len(got)) {
			tb.Errorf("%s holds positions %v; the manifest says %+v", f.Name, got, f)
		}
		positions = append(positions, got...)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var present []string
	for _, e := range entries {
		present = append(present, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(present, want) {
		tb.Errorf("the folder holds %v, not just the manifest and the files it lists %v", present, want)
	}
	return m, positions
}
