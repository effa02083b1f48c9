package eventstore

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// Problem is one fault an audit found. Position names the event, TicketID the
// ticket, when the fault has one.
type Problem struct {
	Kind     string `json:"kind"`
	Position int64  `json:"position,omitempty"`
	StreamID string `json:"stream_id,omitempty"`
	TicketID string `json:"ticket_id,omitempty"`
	Detail   string `json:"detail"`
}

// Kinds of Problem the log check reports.
const (
	ProblemMissingEvents   = "missing_events"   // a gap in positions: events deleted
	ProblemBrokenLink      = "broken_link"      // prev_hash is not the previous event's hash: deleted, inserted or reordered
	ProblemHashMismatch    = "hash_mismatch"    // the content is not what was hashed: edited
	ProblemMalformedHash   = "malformed_hash"   // the stored hash is NULL or not a SHA-256 in hex: edited
	ProblemVersionSequence = "version_sequence" // a stream's versions are not 1..n in position order
	ProblemHeadMissing     = "head_missing"     // the log has no event at a saved head's position: truncated or rebuilt
	ProblemHeadMismatch    = "head_mismatch"    // the event at a saved head's position has another hash: rewritten
)

// maxProblems caps the problems a report lists; the count is always exact.
const maxProblems = 100

// Problems collects audit faults, keeping the first maxProblems and the exact count.
type Problems struct {
	List  []Problem `json:"problems"`
	Count int       `json:"problem_count"`
}

// Add records p.
func (ps *Problems) Add(p Problem) {
	ps.Count++
	if len(ps.List) < maxProblems {
		ps.List = append(ps.List, p)
	}
}

// LogReport is the result of VerifyLog.
type LogReport struct {
	Events       int64  `json:"events"`
	Streams      int64  `json:"streams"`
	LastPosition int64  `json:"last_position"`
	LastHash     string `json:"last_hash"`
	Problems
}

// VerifyLog recomputes the whole hash chain of log in position order and
// checks that positions are gap-free from 1 and that every stream's versions
// are 1..n in position order, all within one snapshot. It reads in one pass
// with constant memory, calling progress (when set) with the number of
// events checked so far. It returns an error only when the log cannot be
// read; faults go into the report.
func VerifyLog(ctx context.Context, log LogScanner, progress func(checked int64)) (LogReport, error) {
	var rep LogReport
	err := log.ScanLog(ctx, func(snap LogSnapshot) error {
		rep = LogReport{}
		rep.List = []Problem{}
		if err := verifyChain(snap, &rep, progress); err != nil {
			return err
		}
		return verifyVersions(snap, &rep)
	})
	return rep, err
}

// verifyChain checks positions and the hash chain of every event in snap.
func verifyChain(snap LogSnapshot, rep *LogReport, progress func(checked int64)) error {
	chain := NewChainCheck(rep)
	err := snap.EachEvent(func(r Record) error {
		chain.Next(r)
		if progress != nil && rep.Events%10000 == 0 {
			progress(rep.Events)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	if progress != nil {
		progress(rep.Events)
	}
	return nil
}

// ChainCheck follows a log in position order and adds to its report what
// VerifyLog reports of the chain: gaps in positions, broken links, malformed
// and mismatched hashes, with the events counted and the last position and
// hash kept. Engines read their log; the check is the same for each.
type ChainCheck struct {
	rep          *LogReport
	prevPosition int64
	prevHash     string
}

// NewChainCheck starts a check of a log from position 1 into rep.
func NewChainCheck(rep *LogReport) *ChainCheck {
	rep.LastHash = GenesisHash
	return &ChainCheck{rep: rep, prevHash: GenesisHash}
}

// Next checks r, the event after the previous one given.
func (c *ChainCheck) Next(r Record) {
	rep, prevPosition, prevHash := c.rep, c.prevPosition, c.prevHash
	if r.Position != prevPosition+1 {
		rep.Add(Problem{Kind: ProblemMissingEvents, Position: prevPosition + 1,
			Detail: fmt.Sprintf("positions jump from %d to %d: events %d to %d are missing", prevPosition, r.Position, prevPosition+1, r.Position-1)})
	}
	if r.PrevHash != prevHash {
		rep.Add(Problem{Kind: ProblemBrokenLink, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("prev_hash %q is not the hash %q of the event before it (position %d): an event was deleted, inserted or reordered", r.PrevHash, prevHash, prevPosition)})
	}
	if computed := r.ComputeHash(); !IsHash(r.Hash) {
		rep.Add(Problem{Kind: ProblemMalformedHash, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("stored hash %q is NULL or not 64 lowercase hex digits: the event cannot be verified and was changed after it was chained", r.Hash)})
	} else if computed != r.Hash {
		rep.Add(Problem{Kind: ProblemHashMismatch, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("stored hash %q does not match the event's content (hashes to %q): its data, metadata or another hashed field was changed", r.Hash, computed)})
	}
	c.prevPosition, c.prevHash = r.Position, r.Hash
	rep.Events++
	rep.LastPosition, rep.LastHash = r.Position, r.Hash
}

// VersionProblem is the ProblemVersionSequence of an event whose version
// does not follow previous, its stream's version before it.
func VersionProblem(position int64, stream string, version, previous int64) Problem {
	return Problem{Kind: ProblemVersionSequence, Position: position, StreamID: stream,
		Detail: fmt.Sprintf("stream %s has version %d after version %d", stream, version, previous)}
}

// IsHash reports whether h is a hash as ComputeHash writes it.
func IsHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// verifyVersions reports every event of snap whose version does not follow
// its stream's previous one, and counts the streams.
func verifyVersions(snap LogSnapshot, rep *LogReport) error {
	var err error
	if rep.Streams, err = snap.Streams(); err != nil {
		return fmt.Errorf("count streams: %w", err)
	}
	err = snap.VersionBreaks(func(b VersionBreak) error {
		rep.Add(VersionProblem(b.Position, b.StreamID, b.Version, b.Previous))
		return nil
	})
	if err != nil {
		return fmt.Errorf("check versions: %w", err)
	}
	return nil
}

// SavedHead is a head of the log as GET /audit/head answered it: the last
// position then and its event's hash (0 and GenesisHash for an empty log).
type SavedHead struct {
	Position int64
	Hash     string
}

// CheckHeads reports each saved head the log no longer holds: a
// ProblemHeadMissing when it has no event at the head's position, a
// ProblemHeadMismatch when that event's stored hash differs (position 0
// holds GenesisHash in every log). A log that still holds a head's event
// and verifies as a chain is unchanged up to it. It returns an error only
// when the log cannot be read.
func CheckHeads(ctx context.Context, log HashReader, heads []SavedHead) (Problems, error) {
	ps := Problems{List: []Problem{}}
	for _, h := range heads {
		stored, found := GenesisHash, true
		if h.Position > 0 {
			var err error
			if stored, found, err = log.StoredHash(ctx, h.Position); err != nil {
				return ps, fmt.Errorf("read event %d: %w", h.Position, err)
			}
		}
		CheckHead(&ps, h, stored, found)
	}
	return ps, nil
}

// CheckHead adds to ps the problem of saved head h when the log has no
// event at its position (found false) or that event's stored hash is not
// h's, as CheckHeads reports it.
func CheckHead(ps *Problems, h SavedHead, stored string, found bool) {
	switch {
	case !found:
		ps.Add(Problem{Kind: ProblemHeadMissing, Position: h.Position,
			Detail: fmt.Sprintf("saved head %d:%s: the log has no event at position %d: it was truncated or rebuilt", h.Position, h.Hash, h.Position)})
	case stored != h.Hash:
		ps.Add(Problem{Kind: ProblemHeadMismatch, Position: h.Position,
			Detail: fmt.Sprintf("saved head %d:%s: the event at position %d has hash %q: the log was rewritten", h.Position, h.Hash, h.Position, stored)})
	}
}
