package duckdb

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// ticketd returns the binary under test: $TICKETD_BIN, else one built from
// the repository once per test run.
func ticketd(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TICKETD_BIN"); bin != "" {
		return bin
	}
	bin, err := buildTicketd()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var buildTicketd = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ticketd-duckdb-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ticketd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ticketd")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// run runs the binary with args and returns its stdout; it fails t unless
// the command exits 0.
func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(ticketd(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ticketd %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// serve starts `ticketd serve` on db and returns its base URL; it is stopped
// when t ends.
func serve(t *testing.T, db string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(ticketd(t), "serve", "--addr", addr, "--db", db, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("ticketd serve did not answer within 30 s")
		}
	}
}

// call sends a request with a JSON body (nil for none) and decodes the JSON
// answer into out (nil to skip), failing t on any status but want.
func call(t *testing.T, method, url string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

// duck opens an in-memory DuckDB.
func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryRows runs query and returns every row, each value as DuckDB's Go
// driver gives it.
func queryRows(t *testing.T, db *sql.DB, query string, args ...any) [][]any {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// manifest is an export folder's manifest.json.
type manifest struct {
	Files []struct {
		Name          string `json:"name"`
		FirstPosition int64  `json:"first_position"`
		LastPosition  int64  `json:"last_position"`
		Rows          int64  `json:"rows"`
		SHA256        string `json:"sha256"`
		LastHash      string `json:"last_hash"`
	} `json:"files"`
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest.json: %v %s", err, b)
	}
	return m
}

// checkFolder checks with DuckDB what a loader relies on: the folder holds
// manifest.json and the files it lists, nothing else; each file holds the
// positions the manifest gives it, each once, and its last hash; together
// they run from position 1 to the manifest's end without a gap or a
// duplicate. It returns the manifest's last position (0 when it lists no
// file).
func checkFolder(t *testing.T, db *sql.DB, dir string) int64 {
	t.Helper()
	m := readManifest(t, dir)
	listed := map[string]bool{"manifest.json": true}
	var next int64 = 1
	for _, f := range m.Files {
		listed[f.Name] = true
		got := queryRows(t, db, `SELECT count(*), count(DISTINCT position), min(position), max(position),
			max_by(hash, position) FROM read_parquet(?)`, filepath.Join(dir, f.Name))[0]
		want := []any{f.Rows, f.Rows, f.FirstPosition, f.LastPosition, f.LastHash}
		if fmt.Sprint(got) != fmt.Sprint(want) || f.FirstPosition != next {
			t.Errorf("%s: DuckDB reads count, distinct positions, first, last, last hash = %v; manifest says %v, from %d", f.Name, got, want, next)
		}
		next = f.LastPosition + 1
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("the folder holds %s, which manifest.json does not list", e.Name())
		}
	}
	if len(m.Files) == 0 {
		return 0
	}
	got := queryRows(t, db, `SELECT count(*), count(DISTINCT position), min(position), max(position)
		FROM read_parquet(?)`, filepath.Join(dir, "*.parquet"))[0]
	if want := []any{next - 1, next - 1, int64(1), next - 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the folder's *.parquet: count, distinct positions, first, last = %v, want %v", got, want)
	}
	return next - 1
}
