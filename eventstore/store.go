// Package eventstore is the engine-neutral contract of ticketd's event log:
// the record and append types, the errors every engine returns, the hash
// chain, CloudEvents, the audit of a log, the relay that publishes committed
// events through Watermill, and Store, the port the rest of the program uses.
// eventstore/sqlite implements it; eventstore/storetest is the suite every
// engine passes.
package eventstore

import (
	"context"
	"time"
)

// Store is an event log as the rest of ticketd uses it, whatever engine
// holds it. Every method is safe for concurrent use. Unless a method says
// otherwise, a storage fault (connection lost, disk full, read-only
// storage, lock timeout, a closed store) is returned as a CodeUnavailable
// *domain.Error (see Unavailable), which callers answer with 503.
type Store interface {
	Reader
	Appender
	Checkpoints
	LogScanner
	HashReader
	ReservationReader
	ClaimRestorer
	// CheckWritable commits a probe write, serialized with the appends, so
	// that it fails with a CodeUnavailable error exactly while appends would.
	CheckWritable(ctx context.Context) error
	// CheckHead reads the stored hash of the event the next append chains
	// from and fails with a *BrokenHeadError, as appends then do, when it
	// is not a hash (see CheckHeadHash); other errors are storage faults.
	CheckHead(ctx context.Context) error
	// Close stops accepting appends, commits every one already queued (an
	// append that returned nil stays committed), and releases the storage.
	// It is safe to call more than once.
	Close() error
	// Abandon is Close after a command failed with the store: storage that
	// opening the store created (a new database file) is removed with it.
	Abandon() error
}

// Reader reads the committed log. Positions are gap-free from 1 in commit
// order, and a reader never sees a position before every lower one is
// visible too, so a follower that reads after its last position never skips
// an event. Reads return an empty, non-nil slice when nothing matches, and
// a *CorruptEventError at a stored event whose data or metadata is not a
// JSON object.
type Reader interface {
	// ReadStream returns every event of one stream in version order.
	ReadStream(ctx context.Context, streamID string) ([]Record, error)
	// ReadStreams returns every event of the given streams in position
	// order (so each stream's in version order), in as few reads as the
	// engine allows however many streams are asked for.
	ReadStreams(ctx context.Context, streamIDs []string) ([]Record, error)
	// ReadStreamUntil returns the events of one stream committed at or
	// before position, in version order.
	ReadStreamUntil(ctx context.Context, streamID string, position int64) ([]Record, error)
	// ReadStreamAsOf returns the events of one stream that occurred at or
	// before t, in version order.
	ReadStreamAsOf(ctx context.Context, streamID string, t time.Time) ([]Record, error)
	// ReadAll returns up to limit events with position > after in position
	// order, keeping only the given types (before the limit) when any are
	// given. It may serve recent events from memory.
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]Record, error)
	// ReadStored is ReadAll from storage alone, never from memory: what the
	// database holds now, for auditors.
	ReadStored(ctx context.Context, after int64, limit int, types ...string) ([]Record, error)
	// Head returns the position of the last committed event, 0 when empty.
	Head() int64
	// LogHead returns the last event's position and hash, read together; 0
	// and GenesisHash for an empty log.
	LogHead() (position int64, hash string)
	// HeadChanged returns the head and a channel closed when a commit moves it.
	HeadChanged() (int64, <-chan struct{})
	// HeadReachedAt returns when this store's head first reached position:
	// the end of the commit that made it readable (for another instance's
	// commit, when this store learnt of it), or found=false when position
	// is not committed or was reached too long ago (before the last
	// HeadMemory moves of the head, or before the store opened).
	HeadReachedAt(position int64) (at time.Time, found bool)
}

// HeadMemory is how many recent moves of its head a store remembers for
// HeadReachedAt.
const HeadMemory = 8192

// Appender writes the log.
type Appender interface {
	// Append commits req durably before it returns: every event and the
	// idempotency record in one transaction, or nothing. Concurrent appends
	// may share a transaction (group commit) but succeed or fail on their
	// own. It fails with an error wrapping ErrConcurrency when a stream is
	// not at its expected version (never one appended with AnyVersion), with *KeyTakenError when the idempotency
	// key is stored (also by a concurrent append: the key is taken once),
	// with *LimitError, *ReservationError or *ReservationExistsError when
	// one of its claims does not hold (see Claim), and with a
	// CodeUnavailable error on a storage fault or a closed store.
	// Once queued, the append is carried out even if ctx ends: a nil error
	// always means committed.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// Import appends records exactly as given, as exported by another
	// ticketd: they must continue the log (see CheckContinues) and their
	// streams' versions. Either all are committed or none (error wrapping
	// ErrChain, ErrConcurrency, or a storage error).
	Import(ctx context.Context, records []Record) error
	// LookupIdempotency returns the record stored under key, or found=false.
	LookupIdempotency(ctx context.Context, key string) (rec IdempotencyRecord, found bool, err error)
	// PurgeIdempotency deletes records created before cutoff and returns how
	// many it deleted.
	PurgeIdempotency(ctx context.Context, cutoff time.Time) (int64, error)
}

// Checkpoints stores the positions consumers (relays) reached, by name.
type Checkpoints interface {
	// Checkpoint returns the position stored under name, 0 when none is.
	Checkpoint(ctx context.Context, name string) (int64, error)
	// MoveCheckpoint sets the checkpoint name from prev to pos, a
	// compare-and-set (prev == pos confirms it): it fails, having written
	// nothing, with an error wrapping ErrCheckpointMoved when the stored
	// checkpoint is not prev (none stored counts as 0), and with one
	// wrapping ErrFenced when the store fences its writes by a leadership
	// (see postgres.LeaderLease) whose term has ended.
	MoveCheckpoint(ctx context.Context, name string, prev, pos int64) error
}

// LogScanner is what VerifyLog needs of a store.
type LogScanner interface {
	// ScanLog calls fn with one consistent snapshot of the whole log, valid
	// until fn returns, and returns fn's error or the snapshot's.
	ScanLog(ctx context.Context, fn func(LogSnapshot) error) error
}

// LogSnapshot reads one unchanging state of the log.
type LogSnapshot interface {
	// EachEvent calls fn with every event in position order, as stored: its
	// data and metadata unchecked, a missing hash as "". It stops at fn's
	// first error and returns it.
	EachEvent(fn func(Record) error) error
	// VersionBreaks calls fn, in position order, with every event whose
	// version is not one more than that of the event before it in its
	// stream (0 before a stream's first). It stops at fn's first error.
	VersionBreaks(fn func(VersionBreak) error) error
	// Streams returns how many streams the log has.
	Streams() (int64, error)
}

// VersionBreak is an event whose version does not follow its stream's previous one.
type VersionBreak struct {
	Position          int64
	StreamID          string
	Version, Previous int64
}

// HashReader is what CheckHeads needs of a store.
type HashReader interface {
	// StoredHash returns the stored hash of the event at position ("" when
	// missing), or found=false when the log has no event there.
	StoredHash(ctx context.Context, position int64) (hash string, found bool, err error)
}
