package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
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
	if err := checkListenAddr(cfg.addr); err != nil {
		return err
	}
	if err := checkNATSURL("nats-url", cfg.nats.url); err != nil {
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

// checkListenAddr fails with errUsage naming --addr unless addr is
// host:port with a numeric port from 0 to 65535 (the host may be empty).
func checkListenAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		return fmt.Errorf("%w: --addr %q: must be host:port with a port from 0 to 65535", errUsage, addr)
	}
	return nil
}

// checkNATSURL fails with errUsage naming --flag unless v is empty or a
// comma-separated list of nats:// or tls:// URLs with a host and at most a
// numeric port, as nats.Connect takes them.
func checkNATSURL(flag, v string) error {
	if v == "" {
		return nil
	}
	for _, server := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(server))
		if err == nil && (u.Scheme == "nats" || u.Scheme == "tls") && u.Hostname() != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
			if port := u.Port(); port == "" || validPort(port) {
				continue
			}
		}
		return fmt.Errorf("%w: --%s %q: must be a nats:// or tls:// URL such as nats://localhost:4222, or a comma-separated list of them", errUsage, flag, v)
	}
	return nil
}

// validPort reports whether port is a decimal number from 0 to 65535.
func validPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
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
