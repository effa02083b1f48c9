package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
