package eventstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
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

// VerifyLog recomputes the whole hash chain in position order and checks
// that positions are gap-free from 1 and that every stream's versions are
// 1..n in position order. It reads in one pass with constant memory, calling
// progress (when set) with the number of events checked so far. It returns an
// error only when the log cannot be read; faults go into the report.
func (s *Store) VerifyLog(ctx context.Context, progress func(checked int64)) (LogReport, error) {
	var rep LogReport
	rep.List = []Problem{}
	tx, err := s.readDB.BeginTx(ctx, nil)
	if err != nil {
		return rep, classify(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+recordColumns+` FROM events ORDER BY position`)
	if err != nil {
		return rep, fmt.Errorf("read log: %w", classify(err))
	}
	defer rows.Close()
	chain := NewChainCheck(&rep)
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return rep, err
		}
		chain.Next(r)
		if progress != nil && rep.Events%10000 == 0 {
			progress(rep.Events)
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read log: %w", classify(err))
	}
	if progress != nil {
		progress(rep.Events)
	}
	if err := verifyVersions(ctx, tx, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// ChainCheck follows a log in position order and adds to its report what
// VerifyLog reports of the chain: gaps in positions, broken links, malformed
// and mismatched hashes, with the events counted and the last position and
// hash kept. Engines read their log; the check is the same for each.
type ChainCheck struct {
	rep  *LogReport
	prev tip
}

// NewChainCheck starts a check of a log from position 1 into rep.
func NewChainCheck(rep *LogReport) *ChainCheck {
	rep.LastHash = GenesisHash
	return &ChainCheck{rep: rep, prev: tip{hash: GenesisHash}}
}

// Next checks r, the event after the previous one given.
func (c *ChainCheck) Next(r Record) {
	rep, prev := c.rep, c.prev
	if r.Position != prev.position+1 {
		rep.Add(Problem{Kind: ProblemMissingEvents, Position: prev.position + 1,
			Detail: fmt.Sprintf("positions jump from %d to %d: events %d to %d are missing", prev.position, r.Position, prev.position+1, r.Position-1)})
	}
	if r.PrevHash != prev.hash {
		rep.Add(Problem{Kind: ProblemBrokenLink, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("prev_hash %q is not the hash %q of the event before it (position %d): an event was deleted, inserted or reordered", r.PrevHash, prev.hash, prev.position)})
	}
	if computed := r.ComputeHash(); !IsHash(r.Hash) {
		rep.Add(Problem{Kind: ProblemMalformedHash, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("stored hash %q is NULL or not 64 lowercase hex digits: the event cannot be verified and was changed after it was chained", r.Hash)})
	} else if computed != r.Hash {
		rep.Add(Problem{Kind: ProblemHashMismatch, Position: r.Position, StreamID: r.StreamID,
			Detail: fmt.Sprintf("stored hash %q does not match the event's content (hashes to %q): its data, metadata or another hashed field was changed", r.Hash, computed)})
	}
	c.prev = tip{position: r.Position, hash: r.Hash}
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

// verifyVersions checks in SQL that each stream's versions are 1, 2, ... in
// position order, and counts the streams.
func verifyVersions(ctx context.Context, tx *sql.Tx, rep *LogReport) error {
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT stream_id) FROM events`).Scan(&rep.Streams); err != nil {
		return fmt.Errorf("count streams: %w", classify(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT position, stream_id, version, previous FROM (
			SELECT position, stream_id, version, LAG(version) OVER (PARTITION BY stream_id ORDER BY position) AS previous FROM events)
		WHERE version != COALESCE(previous, 0) + 1 ORDER BY position`)
	if err != nil {
		return fmt.Errorf("check versions: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var pos, version int64
		var stream string
		var previous sql.NullInt64
		if err := rows.Scan(&pos, &stream, &version, &previous); err != nil {
			return fmt.Errorf("check versions: %w", err)
		}
		rep.Add(VersionProblem(pos, stream, version, previous.Int64))
	}
	return rows.Err()
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
func (s *Store) CheckHeads(ctx context.Context, heads []SavedHead) (Problems, error) {
	ps := Problems{List: []Problem{}}
	for _, h := range heads {
		stored, found := GenesisHash, true
		if h.Position > 0 {
			var hash sql.NullString
			err := s.readDB.QueryRowContext(ctx, `SELECT hash FROM events WHERE position = ?`, h.Position).Scan(&hash)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				found = false
			case err != nil:
				return ps, fmt.Errorf("read event %d: %w", h.Position, classify(err))
			}
			stored = hash.String
		}
		CheckHead(&ps, h, stored, found)
	}
	return ps, nil
}
