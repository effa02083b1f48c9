package main

import (
	"fmt"
	"io"
	"time"
)

// progress reports how far a long command is, on stderr: a line rewritten in
// place on a terminal, else a plain line every few seconds.
type progress struct {
	w        io.Writer
	label    string
	unit     string
	total    int64
	terminal bool
	start    time.Time
	last     time.Time
	shown    bool
}

// newProgress reports progress of label over total units (0: total unknown).
func newProgress(w io.Writer, label, unit string, total int64) *progress {
	now := time.Now()
	return &progress{w: w, label: label, unit: unit, total: total, terminal: isTerminal(w), start: now, last: now}
}

// update reports that n of the total are done. It is cheap to call often.
func (p *progress) update(n int64) {
	interval := 5 * time.Second
	if p.terminal {
		interval = 200 * time.Millisecond
	}
	now := time.Now()
	if now.Sub(p.last) < interval {
		return
	}
	p.last = now
	p.shown = true
	rate := float64(n) / max(now.Sub(p.start).Seconds(), 1e-9)
	line := fmt.Sprintf("%s: %d %s (%.0f %s/s)", p.label, n, p.unit, rate, p.unit)
	if p.total > 0 {
		line = fmt.Sprintf("%s: %d/%d %s (%.0f%%, %.0f %s/s)", p.label, n, p.total, p.unit, 100*float64(n)/float64(p.total), rate, p.unit)
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends an in-place progress line.
func (p *progress) done() {
	if p.terminal && p.shown {
		fmt.Fprintln(p.w)
	}
}
