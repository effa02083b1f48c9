package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/projections"
)

func runReplay(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var db database
	var logs logConfig
	cmd := newCommand("replay", "ticketd replay [--db PATH|URL]",
		"Rebuilds every read model (the tickets, sales and showings tables) from the event log\nalone. Run it with the service stopped; it refuses a database another ticketd process has open, a path\nthat does not exist and a database that is not ticketd's.", stderr)
	db.register(cmd, "SQLite database file, or PostgreSQL database URL", pgSchemaReadUsage)
	logs.register(cmd)
	if err := cmd.parse(args); err != nil {
		return err
	}
	logger, err := logs.newLogger(stderr)
	if err != nil {
		return err
	}
	store, tables, err := db.open(ctx, service.DatabaseOptions{Logger: logger, Mode: eventstore.MustExist})
	if err != nil {
		return err
	}
	defer store.Close()
	head := store.Head()
	progress := newProgress(stderr, "replay", "events", head)
	start := time.Now()
	n, err := projections.Rebuild(ctx, store, tables, progress.update)
	progress.done()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	took := time.Since(start)
	var names []string
	for _, m := range projections.Models(store) {
		names = append(names, projections.Short(m.Schema().Name))
	}
	fmt.Fprintf(stdout, "replayed %d events in %s (%.0f events/s); read models %s rebuilt at position %d\n",
		n, took.Round(time.Millisecond), float64(n)/max(took.Seconds(), 1e-9), strings.Join(names, ", "), head)
	return store.Close()
}
