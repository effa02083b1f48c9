package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// logConfig selects the level and format of the process's structured logs.
type logConfig struct {
	level  string
	format string
}

func (l *logConfig) register(c *command) {
	c.String(&l.level, "log-level", "TICKETD_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	c.String(&l.format, "log-format", "TICKETD_LOG_FORMAT", "auto", "log format: json, text, or auto (text on a terminal, else json)")
}

// newLogger returns the logger the configuration asks for, writing to w.
// It fails with errUsage on an unknown level or format.
func (l logConfig) newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: must be debug, info, warn or error", errUsage, l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: must be json, text or auto", errUsage, l.format)
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
