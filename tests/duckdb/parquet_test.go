package duckdb

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantColumns are the columns and DuckDB types of ticketd's Parquet files.
var wantColumns = [][2]string{
	{"position", "BIGINT"}, {"id", "VARCHAR"}, {"stream_id", "VARCHAR"}, {"version", "BIGINT"}, {"type", "VARCHAR"},
	{"occurred_at", "TIMESTAMP WITH TIME ZONE"},
	{"theater_name", "VARCHAR"}, {"user_id", "VARCHAR"}, {"movie_title", "VARCHAR"}, {"price_krw", "BIGINT"}, {"memo", "VARCHAR"},
	{"showing_id", "VARCHAR"}, {"hold_id", "VARCHAR"},
	{"reason", "VARCHAR"},
	// starts_at is text: a showing's start is kept as sent, with its offset.
	{"starts_at", "VARCHAR"}, {"capacity", "BIGINT"}, {"per_buyer_limit", "BIGINT"}, {"quantity", "BIGINT"},
	{"expires_at", "TIMESTAMP WITH TIME ZONE"},
	{"request_id", "VARCHAR"}, {"correlation_id", "VARCHAR"}, {"hash", "VARCHAR"},
}

// readmeQuery returns the DuckDB query of README.md's Parquet section.
func readmeQuery(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## The log as Parquet")
	m := regexp.MustCompile("(?s)```sql\n(.*?)```").FindStringSubmatch(section)
	if !ok || m == nil || !strings.Contains(m[1], "'exports/*.parquet'") {
		t.Fatal("README.md has no section \"The log as Parquet\" with a ```sql query over 'exports/*.parquet'")
	}
	return m[1]
}

// TestDuckDBReadsIncrementalExportsAsTheServiceCountsThem exports a live
// log of a week in three runs (to position 1000, to the head, then after
// more sales over HTTP) and reads the folder with DuckDB: every position
// once, a file per UTC day, the columns' types, the README's revenue query
// equal to GET /stats/sales, the manifest's end equal to GET /audit/head,
// and GET /events/export.parquet holding the same rows.
func TestDuckDBReadsIncrementalExportsAsTheServiceCountsThem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, out := filepath.Join(dir, "app.db"), filepath.Join(dir, "exports")
	run(t, "seed", "--db", db, "--tickets", "3000", "--batch", "100", "--span", "168h")
	base := serve(t, db)
	export := func() string {
		return run(t, "export", "--db", db, "--format", "parquet", "--out", out)
	}
	run(t, "export", "--db", db, "--format", "parquet", "--out", out, "--until", "1000")
	duck := duck(t)
	if last := checkFolder(t, duck, out); last != 1000 {
		t.Fatalf("--until 1000: the folder ends at %d", last)
	}
	export()
	var issued struct {
		TicketIDs []string `json:"ticket_ids"`
	}
	call(t, "POST", base+"/tickets/issue", map[string]any{"theater_name": "CGV 여의도 IMAX", "user_id": "u", "movie_title": "파묘",
		"price_krw": 21000, "quantity": 3}, 201, &issued)
	call(t, "POST", base+"/tickets/refund", map[string]any{"ticket_ids": issued.TicketIDs[:1]}, 200, nil)
	export()

	var head struct {
		Position int64  `json:"position"`
		Hash     string `json:"hash"`
	}
	call(t, "GET", base+"/audit/head", nil, 200, &head)
	if last := checkFolder(t, duck, out); last != head.Position {
		t.Fatalf("the folder ends at %d, the log at %d", last, head.Position)
	}
	m := readManifest(t, out)
	if end := m.Files[len(m.Files)-1]; end.LastHash != head.Hash {
		t.Errorf("the manifest ends on hash %s, GET /audit/head says %s", end.LastHash, head.Hash)
	}
	if len(m.Files) < 8 {
		t.Errorf("%d files for a week exported in three runs", len(m.Files))
	}
	glob := filepath.Join(out, "*.parquet")

	var columns [][2]string
	for _, r := range queryRows(t, duck, "DESCRIBE SELECT * FROM read_parquet(?)", glob) {
		columns = append(columns, [2]string{r[0].(string), r[1].(string)})
	}
	if !slices.Equal(columns, wantColumns) {
		t.Errorf("DuckDB reads the columns\n%v\nwant\n%v", columns, wantColumns)
	}
	mixed := queryRows(t, duck, `SELECT filename FROM read_parquet(?, filename = true) GROUP BY filename
		HAVING count(DISTINCT CAST(timezone('UTC', occurred_at) AS DATE)) > 1`, glob)
	if len(mixed) > 0 {
		t.Errorf("files holding more than one UTC day: %v", mixed)
	}

	var sales struct {
		Rows []struct {
			Name       string `json:"name"`
			Issued     int64  `json:"issued"`
			Canceled   int64  `json:"canceled"`
			RevenueKRW int64  `json:"revenue_krw"`
		} `json:"rows"`
	}
	call(t, "GET", base+"/stats/sales?by=theater&limit=1000", nil, 200, &sales)
	want := map[string]string{}
	for _, r := range sales.Rows {
		want[r.Name] = fmt.Sprint(r.Issued, r.Canceled, r.RevenueKRW)
	}
	got := map[string]string{}
	query := strings.ReplaceAll(readmeQuery(t), "'exports/*.parquet'", "'"+glob+"'")
	for _, r := range queryRows(t, duck, query) {
		got[r[0].(string)] = fmt.Sprint(r[1:]...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 9 {
		t.Errorf("the README's query over the folder gives\n%v\nGET /stats/sales gives\n%v", got, want)
	}

	checkDocsQueries(t, glob, head.Position)

	httpFile := filepath.Join(dir, "http.parquet")
	download(t, base+"/events/export.parquet?limit=1000000", httpFile)
	diff := queryRows(t, duck, `SELECT (SELECT count(*) FROM read_parquet($1)),
		(SELECT count(*) FROM (SELECT * FROM read_parquet($1) EXCEPT ALL SELECT * FROM read_parquet($2)))`, httpFile, glob)[0]
	if fmt.Sprint(diff) != fmt.Sprint([]any{head.Position, int64(0)}) {
		t.Errorf("GET /events/export.parquet: rows, rows not in the folder = %v, want %d, 0", diff, head.Position)
	}
	download(t, base+"/events/export.parquet?after=1000&limit=500", httpFile)
	if got := queryRows(t, duck, "SELECT count(*), min(position), max(position) FROM read_parquet(?)", httpFile)[0]; fmt.Sprint(got) != "[500 1001 1500]" {
		t.Errorf("after=1000&limit=500: count, first, last = %v", got)
	}
}

// checkDocsQueries runs every ```sql block of docs/parquet.md over the
// folder glob names, each in a fresh DuckDB, as a reader would paste it:
// they run, and the exactly-once loading recipe, run twice, loads the
// folder's events (head of them) once.
func checkDocsQueries(t *testing.T, glob string, head int64) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/parquet.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 4 {
		t.Fatalf("docs/parquet.md has %d sql blocks", len(blocks))
	}
	for _, b := range blocks {
		query := strings.ReplaceAll(b[1], "'exports/*.parquet'", "'"+glob+"'")
		db := duck(t)
		if !strings.Contains(query, "INSERT INTO events") {
			queryRows(t, db, query)
			continue
		}
		for range 2 {
			if _, err := db.Exec(query); err != nil {
				t.Fatalf("docs/parquet.md's loading recipe: %v", err)
			}
			if got := queryRows(t, db, "SELECT count(*), count(DISTINCT position) FROM events")[0]; fmt.Sprint(got) != fmt.Sprint([]any{head, head}) {
				t.Errorf("docs/parquet.md's loading recipe loaded count, distinct positions = %v, want %d", got, head)
			}
		}
	}
}

// download saves the body of a GET of url, which must answer 200 with a
// Parquet file, to path.
func download(t *testing.T, url, path string) {
	t.Helper()
	out, err := exec.Command("curl", "-sSf", "-o", path, "-w", "%{content_type}", url).Output()
	if err != nil || string(out) != "application/vnd.apache.parquet" {
		t.Fatalf("GET %s: %v, Content-Type %q", url, err, out)
	}
}

// TestDuckDBFindsNoUnlistedFileAfterSIGKILL kills the real binary at random
// moments while it exports a log of 100 days, and after each kill reads the
// folder with DuckDB: no file the manifest does not list, and the listed
// ones whole and following on; the last run finishes the log, every event
// once. TICKETD_PARQUET_KILLS sets the number of kills (default 6).
func TestDuckDBFindsNoUnlistedFileAfterSIGKILL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, out := filepath.Join(dir, "app.db"), filepath.Join(dir, "exports")
	run(t, "seed", "--db", db, "--tickets", "20000", "--batch", "200", "--span", "2400h")
	duck := duck(t)
	midway := 0
	kills := 6
	if n, err := strconv.Atoi(os.Getenv("TICKETD_PARQUET_KILLS")); err == nil && n > 0 {
		kills = n
	}
	for kill := range kills {
		listed := 0
		if _, err := os.Stat(filepath.Join(out, "manifest.json")); err == nil {
			listed = len(readManifest(t, out).Files)
		}
		cmd := exec.Command(ticketd(t), "export", "--db", db, "--format", "parquet", "--out", out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the run listed a file, a random instant later: inside a
		// file, between files, or while the manifest is replaced.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			m, err := os.ReadFile(filepath.Join(out, "manifest.json"))
			if err == nil && strings.Count(string(m), `"name"`) > listed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the export listed no file within a minute")
			}
		}
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		last := checkFolder(t, duck, out)
		if last < 22000 {
			midway++
		}
		t.Logf("kill %d: the folder ends at %d", kill, last)
	}
	if midway == 0 {
		t.Fatal("no kill landed before the end of the export")
	}
	run(t, "export", "--db", db, "--format", "parquet", "--out", out)
	if last := checkFolder(t, duck, out); last != 22000 {
		t.Errorf("after the kills, a run ends the folder at %d, want 22000", last)
	}
}
