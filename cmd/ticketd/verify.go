package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/projections"
)

func runVerify(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var dbPath string
	var asJSON bool
	cmd := newCommand("verify", "ticketd verify [--db PATH] [--json]",
		"Checks a database without changing it (safe on a live one): recomputes the hash chain\n"+
			"and names the first position where it breaks, checks positions are gap-free and\n"+
			"versions per stream are 1..n, and folds the log again to compare every ticket with\n"+
			"the read table field by field and every sales row with the sales tables. Exits 0 when everything holds, 1 when anything does not.", stderr)
	cmd.String(&dbPath, "db", "TICKETD_DB", "data/app.db", "SQLite database file")
	cmd.Bool(&asJSON, "json", "TICKETD_VERIFY_JSON", false, "print the report as JSON")
	if err := cmd.parse(args); err != nil {
		return err
	}
	store, err := eventstore.Open(dbPath, eventstore.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	bars := map[string]*progress{}
	rep, err := projections.Audit(ctx, store, func(phase string, done, total int64) {
		if bars[phase] == nil {
			for _, bar := range bars {
				bar.done()
			}
			unit := map[string]string{"log": "events", "tickets": "streams"}[phase]
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
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printAudit(stdout, dbPath, rep)
	}
	if !rep.OK {
		return errVerification
	}
	return nil
}

func printAudit(w io.Writer, dbPath string, rep projections.AuditReport) {
	took := time.Duration(rep.TookMS * float64(time.Millisecond))
	fmt.Fprintf(w, "verified %s in %s\n", dbPath, took.Round(time.Millisecond))
	fmt.Fprintf(w, "  events:    %d checked (%.0f events/s)\n", rep.Events, float64(rep.Events)/max(took.Seconds(), 1e-9))
	fmt.Fprintf(w, "  streams:   %d\n", rep.Streams)
	fmt.Fprintf(w, "  tickets:   %d in the read table, compared up to position %d\n", rep.Tickets, rep.Checkpoint)
	fmt.Fprintf(w, "  sales:     compared up to position %d\n", rep.SalesCheckpoint)
	fmt.Fprintf(w, "  last hash: %s (position %d)\n", rep.LastHash, rep.LastPosition)
	if rep.OK {
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
		fmt.Fprintf(w, "  %s%s: %s\n", p.Kind, at, p.Detail)
	}
	if hidden := rep.Count - len(rep.List); hidden > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", hidden)
	}
}
