package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/termtext"
	"github.com/ticketd/ticketd/projections"
)

func runVerify(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var db database
	var asJSON bool
	var heads []eventstore.SavedHead
	var headFiles [][]eventstore.SavedHead
	cmd := newCommand("verify", "ticketd verify [--db PATH|URL] [--json] [--expect-head POSITION:HASH]... [--expect-head-file FILE]",
		"Checks a database without changing it (safe on a live one): recomputes the hash chain\n"+
			"and names the first position where it breaks, checks positions are gap-free and\n"+
			"versions per stream are 1..n, and folds the log again to compare every ticket with\n"+
			"the read table field by field and every sales row with the sales tables. With saved heads (GET /audit/head), also proves the log\n"+
			"still holds each: an event at its position with its hash, so a truncated or rebuilt\n"+
			"log fails. Exits 0 when everything holds, 1 when anything does not.", stderr)
	db.register(cmd, "SQLite database file, or PostgreSQL database URL", pgSchemaReadUsage)
	cmd.Bool(&asJSON, "json", "TICKETD_VERIFY_JSON", false, "print the report as JSON")
	listVar(cmd, &heads, "expect-head", "TICKETD_VERIFY_EXPECT_HEAD",
		"a saved head POSITION:HASH the log must still hold; repeatable (the variable: a list separated by commas or spaces)",
		"a list of POSITION:HASH (a position of at least 0, 64 hex digits) separated by commas or spaces", parseSavedHead)
	listVar(cmd, &headFiles, "expect-head-file", "TICKETD_VERIFY_EXPECT_HEAD_FILE",
		"file of saved heads, one POSITION:HASH a line (blank lines and lines starting with # are skipped), the log must still hold",
		"a readable file of POSITION:HASH lines", readSavedHeads)
	if err := cmd.parse(args); err != nil {
		return err
	}
	for _, fileHeads := range headFiles {
		heads = append(heads, fileHeads...)
	}
	store, tables, err := db.open(ctx, service.DatabaseOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	bars := map[string]*progress{}
	rep, err := projections.Audit(ctx, store, tables, func(phase string, done, total int64) {
		if bars[phase] == nil {
			for _, bar := range bars {
				bar.done()
			}
			unit := map[string]string{"log": "events"}[phase]
			if unit == "" {
				unit = "positions" // a read model's fold of the log
			}
			bars[phase] = newProgress(stderr, "verify "+phase, unit, total)
		}
		bars[phase].update(done)
	})
	for _, bar := range bars {
		bar.done()
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	headProblems, err := eventstore.CheckHeads(ctx, store, heads)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	rep.Include(headProblems)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printAudit(stdout, db.String(), rep, len(heads))
	}
	if !rep.OK {
		return errVerification
	}
	return nil
}

// parseSavedHead reads POSITION:HASH, a head as GET /audit/head answers it.
func parseSavedHead(v string) (eventstore.SavedHead, error) {
	pos, hash, ok := strings.Cut(v, ":")
	n, err := strconv.ParseInt(pos, 10, 64)
	if _, hexErr := hex.DecodeString(hash); !ok || err != nil || n < 0 || pos[0] == '+' || len(hash) != 64 || hexErr != nil {
		return eventstore.SavedHead{}, fmt.Errorf("%q must be POSITION:HASH: a position of at least 0, a colon and 64 hex digits", v)
	}
	return eventstore.SavedHead{Position: n, Hash: strings.ToLower(hash)}, nil
}

// readSavedHeads reads a file of saved heads, one POSITION:HASH a line;
// blank lines and lines starting with # are skipped. Its error names the
// line.
func readSavedHeads(path string) ([]eventstore.SavedHead, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var heads []eventstore.SavedHead
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		h, err := parseSavedHead(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		heads = append(heads, h)
	}
	return heads, nil
}

// printAudit writes rep for a human. Every text that comes from the
// database or the command line is printed with terminal controls escaped.
func printAudit(w io.Writer, dbPath string, rep projections.AuditReport, heads int) {
	took := time.Duration(rep.TookMS * float64(time.Millisecond))
	fmt.Fprintf(w, "verified %s in %s\n", termtext.Escape(dbPath), took.Round(time.Millisecond))
	fmt.Fprintf(w, "  events:    %d checked (%.0f events/s)\n", rep.Events, float64(rep.Events)/max(took.Seconds(), 1e-9))
	fmt.Fprintf(w, "  streams:   %d\n", rep.Streams)
	unbuilt := rep.LastPosition > 0 && (rep.Checkpoint == 0 || rep.SalesCheckpoint == 0)
	if rep.LastPosition > 0 && rep.Checkpoint == 0 {
		fmt.Fprintln(w, "  tickets:   the read table is not built yet (serve or replay builds it)")
	} else {
		fmt.Fprintf(w, "  tickets:   %d in the read table, compared up to position %d\n", rep.Tickets, rep.Checkpoint)
	}
	if rep.LastPosition > 0 && rep.SalesCheckpoint == 0 {
		fmt.Fprintln(w, "  sales:     the sales tables are not built yet (serve or replay builds them)")
	} else {
		fmt.Fprintf(w, "  sales:     compared up to position %d\n", rep.SalesCheckpoint)
	}
	fmt.Fprintf(w, "  last hash: %s (position %d)\n", termtext.Escape(rep.LastHash), rep.LastPosition)
	if heads > 0 {
		fmt.Fprintf(w, "  saved heads: %d checked against the log\n", heads)
	}
	switch {
	case rep.OK && unbuilt:
		fmt.Fprintln(w, "OK: the hash chain holds, positions are gap-free and versions are 1..n; read tables not built yet were not compared (run serve or replay, then verify again).")
		return
	case rep.OK:
		fmt.Fprintln(w, "OK: the hash chain holds, positions are gap-free, versions are 1..n, and the read tables match the log.")
		return
	}
	where := ""
	if rep.FirstBreak != nil && rep.FirstBreak.Position > 0 {
		where = fmt.Sprintf("; the first break is at position %d", rep.FirstBreak.Position)
	}
	fmt.Fprintf(w, "FAILED: %d problem(s)%s\n", rep.Count, where)
	for _, p := range rep.List {
		at := ""
		if p.Position > 0 {
			at = fmt.Sprintf(" at position %d", p.Position)
		}
		fmt.Fprintf(w, "  %s%s: %s\n", termtext.Escape(p.Kind), at, termtext.Escape(p.Detail))
	}
	if hidden := rep.Count - len(rep.List); hidden > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", hidden)
	}
}
