package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ticketd/ticketd/internal/tracing"
)

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg serviceConfig
	var logs logConfig
	cmd := newCommand("serve", "ticketd [serve] [flags]",
		"Runs the HTTP service. SIGINT or SIGTERM stops it gracefully: no new connections,\nin-flight requests finish, pending appends are committed, then it exits 0.", stderr)
	cfg.register(cmd)
	logs.register(cmd)
	if err := cmd.parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger, err := logs.newLogger(stderr)
	if err != nil {
		return err
	}
	if cfg.tracing, err = tracing.FromEnv(ctx, "ticketd"); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer flushTraces(cfg.tracing, logger)
	svc, err := startService(ctx, cfg, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "reason", "signal")
	case err := <-svc.Done():
		logger.Error("http server stopped", "error", err)
		return fmt.Errorf("http server: %w", errors.Join(err, svc.shutdown()))
	}
	if err := svc.shutdown(); err != nil {
		return err
	}
	logger.Info("stopped cleanly")
	return nil
}

// traceFlushTimeout bounds the export of the spans buffered at exit.
const traceFlushTimeout = 5 * time.Second

// flushTraces exports the spans t still buffers; a failure is logged.
func flushTraces(t *tracing.Tracing, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.Warn("traces not exported at exit", "error", err)
	}
}
