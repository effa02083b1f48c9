package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

type appendJob struct {
	req    eventstore.AppendRequest
	events []jobEvent
	// imported, when set, replaces req: records to insert as they are (Import).
	imported []eventstore.Record
	outcome  chan eventstore.Outcome
	// span is the append's span, linked with its group commit's; nil for
	// an import.
	span trace.Span
}

// jobEvent is one event of an append as ticketd_append_job takes it.
type jobEvent struct {
	Stream int    `json:"s"`
	ID     string `json:"id"`
	Type   string `json:"type"`
	Data   string `json:"data"`
}

// Append commits req durably (synchronous_commit=on) before returning.
// Concurrent appends share one transaction (group commit) but succeed or fail
// independently. It fails with an error wrapping eventstore.ErrConcurrency on
// a version mismatch, with *eventstore.KeyTakenError when the idempotency key
// exists (committed by any store), with a CodeUnavailable *domain.Error when
// the database cannot take writes or the store is closed.
//
// Once queued the append is carried out even if ctx ends; Append then still
// waits for its outcome, so a nil error always means committed.
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (_ eventstore.AppendResult, err error) {
	if s.opts.ReadOnly {
		return eventstore.AppendResult{}, eventstore.ErrReadOnly
	}
	ctx, span := eventstore.StartAppendSpan(ctx, s.tracer)
	defer func() { eventstore.EndAppendSpan(span, err) }()
	pending, err := eventstore.EncodeEvents(req)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	job := &appendJob{req: req, span: span, events: make([]jobEvent, len(pending))}
	for i, e := range pending {
		job.events[i] = jobEvent{Stream: e.Stream, Type: e.Type, Data: string(e.Data)}
	}
	out, err := s.submit(ctx, job)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return out.Result, out.Err
}

// Import appends records exactly as given (positions, ids, times, data,
// metadata and hashes), as exported by another ticketd. They must continue
// the log: the first at position head+1 chaining from the head's hash, each
// with the hash ComputeHash gives, versions continuing their streams. Either
// the whole batch is committed, or nothing is (error wrapping
// eventstore.ErrChain, eventstore.ErrConcurrency, or a storage error).
func (s *Store) Import(ctx context.Context, records []eventstore.Record) error {
	if len(records) == 0 {
		return nil
	}
	if s.opts.ReadOnly {
		return eventstore.ErrReadOnly
	}
	out, err := s.submit(ctx, &appendJob{imported: records})
	if err != nil {
		return err
	}
	return out.Err
}

// submit queues job for the writer and waits for its outcome; err is set
// when the job was not queued.
func (s *Store) submit(ctx context.Context, job *appendJob) (eventstore.Outcome, error) {
	job.outcome = make(chan eventstore.Outcome, 1)
	if err := s.writer.Submit(ctx, job); err != nil {
		return eventstore.Outcome{}, err
	}
	return <-job.outcome, nil
}

// groupReply is what ticketd_append answers for a group.
type groupReply struct {
	Results []struct {
		Position int64  `json:"position"`
		Hash     string `json:"hash"`
		// Versions are an append's streams' versions before it, in its order.
		Versions []int64         `json:"versions"`
		Error    json.RawMessage `json:"error"`
	} `json:"results"`
	StartPosition int64  `json:"start_position"`
	StartHash     string `json:"start_hash"`
	WaitedUS      int64  `json:"waited_us"`
}

// commitBatch commits the jobs in one call of ticketd_append, in which a job
// that fails writes nothing and leaves its neighbours intact, then answers
// them.
func (s *Store) commitBatch(batch []*appendJob) {
	span := eventstore.StartGroupCommitSpan(s.tracer, len(batch), func(i int) trace.Span { return batch[i].span })
	start := time.Now()
	s.mu.Lock()
	now := s.opts.Now()
	if now.Before(s.lastCommit) {
		now = s.lastCommit
	}
	s.mu.Unlock()
	occurredAt := now.UTC().Truncate(time.Microsecond)
	outcomes := make([]eventstore.Outcome, len(batch))
	jobs := make([]any, len(batch))
	for i, job := range batch {
		jobs[i], outcomes[i].Err = encodeJob(job, occurredAt)
	}
	var reply groupReply
	err := s.write(context.Background(), func(q Statements) error {
		return q.QueryRow(context.Background(), `SELECT ticketd_append($1::jsonb)`, jobs).Scan(&reply)
	})
	err = brokenHead(err)
	s.headAlarm.Note(s.opts.Logger, s.url, err)
	var end eventstore.Tip
	if err == nil {
		end, err = s.decodeReply(batch, reply, occurredAt, outcomes)
	}
	if err == nil {
		s.mu.Lock()
		s.lastCommit = now
		s.mu.Unlock()
		s.recent.AddCommitted(outcomes)
		s.Advance(end)
		if s.opts.OnAppendLock != nil {
			waited := time.Duration(reply.WaitedUS) * time.Microsecond
			s.opts.OnAppendLock(waited, time.Since(start)-waited)
		}
	}
	span.End(err)
	s.answer(batch, outcomes, err, time.Since(start))
}

// codeBrokenHead is the SQLSTATE with which ticketd_append refuses to chain
// a group from a broken head (migration 0004).
const codeBrokenHead = "TD002"

// brokenHead returns err as a *eventstore.BrokenHeadError when it is
// ticketd_append's refusal of a broken head, else err as it is.
func brokenHead(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeBrokenHead {
		return err
	}
	var head struct {
		Position int64
		Hash     *string
	}
	if jsonErr := json.Unmarshal([]byte(pe.Detail), &head); jsonErr != nil {
		return fmt.Errorf("decode %s: %w", pe.Detail, errors.Join(jsonErr, err))
	}
	return eventstore.CheckHeadHash(head.Position, head.Hash)
}

// encodeJob returns job as ticketd_append takes it. An append's event ids
// and idempotency body are set here.
func encodeJob(job *appendJob, occurredAt time.Time) (any, error) {
	if job.imported != nil {
		return importJob(job.imported), nil
	}
	type stream struct {
		ID       string `json:"id"`
		Expected int64  `json:"expected"`
	}
	streams := make([]stream, len(job.req.Streams))
	for i, sa := range job.req.Streams {
		streams[i] = stream{ID: sa.StreamID, Expected: sa.ExpectedVersion}
	}
	for i := range job.events {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		job.events[i].ID = id.String()
	}
	metadata, err := json.Marshal(job.req.Metadata)
	if err != nil {
		return nil, err
	}
	var idem any
	if rec := job.req.Idempotency; rec != nil {
		idem = map[string]any{"key": rec.Key, "endpoint": rec.Endpoint, "fingerprint": rec.Fingerprint,
			"status": rec.Status, "body": hex.EncodeToString(rec.Body)}
	}
	events := job.events
	if events == nil {
		events = []jobEvent{} // an append of no events (a no-op with its idempotency record) is an empty array, not null
	}
	return map[string]any{"streams": streams, "events": events, "occurred_at": domain.FormatTime(occurredAt),
		"metadata": string(metadata), "idempotency": idem, "claims": claimsJob(job.req)}, nil
}

// importJob is an import as ticketd_import_job takes it: data and metadata as
// JSON strings, so their text reaches the log byte for byte.
func importJob(records []eventstore.Record) any {
	rows := make([]map[string]any, len(records))
	for i, r := range records {
		rows[i] = map[string]any{"position": r.Position, "id": r.ID, "stream_id": r.StreamID, "version": r.Version,
			"type": r.Type, "occurred_at": domain.FormatTime(r.OccurredAt), "data": string(r.Data),
			"metadata": string(r.Metadata), "prev_hash": r.PrevHash, "hash": r.Hash}
	}
	return map[string]any{"import": true, "records": rows}
}

// decodeReply sets each job's outcome from reply and returns the new tip. A
// job that failed to encode was sent as null and failed on its own. The
// records of an append are rebuilt here and their hashes checked against the
// server's: a mismatch fails the call, though it committed, since it means
// the two hash functions differ.
func (s *Store) decodeReply(batch []*appendJob, reply groupReply, occurredAt time.Time, outcomes []eventstore.Outcome) (eventstore.Tip, error) {
	if len(reply.Results) != len(batch) {
		return eventstore.Tip{}, fmt.Errorf("ticketd_append answered %d results for %d jobs", len(reply.Results), len(batch))
	}
	end := eventstore.Tip{Position: reply.StartPosition, Hash: reply.StartHash}
	for i, res := range reply.Results {
		if outcomes[i].Err != nil {
			continue
		}
		if res.Error != nil {
			outcomes[i].Err = jobError(res.Error)
			continue
		}
		if len(res.Versions) != len(batch[i].req.Streams) {
			return eventstore.Tip{}, fmt.Errorf("ticketd_append answered versions of %d streams for an append to %d", len(res.Versions), len(batch[i].req.Streams))
		}
		result := jobResult(batch[i], end, res.Versions, occurredAt)
		if last := result.Records; len(last) > 0 && last[len(last)-1].Hash != res.Hash {
			return eventstore.Tip{}, fmt.Errorf("position %d: the database chained hash %s, ticketd computes %s", res.Position, res.Hash, last[len(last)-1].Hash)
		}
		outcomes[i].Result = result
		end = eventstore.Tip{Position: res.Position, Hash: res.Hash}
	}
	return end, nil
}

// jobResult is the committed result of job, which continued the log at end
// and its streams at versions.
func jobResult(job *appendJob, end eventstore.Tip, versions []int64, occurredAt time.Time) eventstore.AppendResult {
	if job.imported != nil {
		return eventstore.AppendResult{Records: job.imported, Position: job.imported[len(job.imported)-1].Position}
	}
	metadata, _ := json.Marshal(job.req.Metadata)
	versions = slices.Clone(versions)
	records := make([]eventstore.Record, len(job.events))
	for i, e := range job.events {
		versions[e.Stream]++
		end.Position++
		records[i] = eventstore.Record{
			Position: end.Position, ID: e.ID, StreamID: job.req.Streams[e.Stream].StreamID,
			Version: versions[e.Stream], Type: e.Type, OccurredAt: occurredAt,
			Data: json.RawMessage(e.Data), Metadata: metadata, PrevHash: end.Hash,
		}
		records[i].Hash = records[i].ComputeHash()
		end.Hash = records[i].Hash
	}
	return eventstore.AppendResult{Records: records, Position: end.Position}
}

// jobError turns a job error of ticketd_append into the error Append gives.
func jobError(raw json.RawMessage) error {
	var e struct {
		Kind              string `json:"kind"`
		Message           string `json:"message"`
		Stream            string `json:"stream"`
		Current, Expected int64
		Existing          *struct {
			Key, Endpoint, Fingerprint, Body string
			Status                           int
			Position                         int64
			CreatedAt                        string `json:"created_at"`
		}
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode job error %s: %w", raw, err)
	}
	switch {
	case e.Kind == "conflict" && e.Message != "":
		return fmt.Errorf("%s: %w", e.Message, eventstore.ErrConcurrency)
	case e.Kind == "conflict":
		return fmt.Errorf("stream %s is at version %d, expected %d: %w", e.Stream, e.Current, e.Expected, eventstore.ErrConcurrency)
	case e.Kind == "limit" || e.Kind == "reservation" || e.Kind == "exists":
		return claimError(raw)
	case e.Kind == "chain":
		return fmt.Errorf("%s: %w", e.Message, eventstore.ErrChain)
	case e.Kind == "key_taken" && e.Existing != nil:
		body, _ := hex.DecodeString(e.Existing.Body)
		created, err := domain.ParseTime(e.Existing.CreatedAt)
		if err != nil {
			return fmt.Errorf("idempotency key %q: created_at: %w", e.Existing.Key, err)
		}
		return &eventstore.KeyTakenError{Existing: eventstore.IdempotencyRecord{
			Key: e.Existing.Key, Endpoint: e.Existing.Endpoint, Fingerprint: e.Existing.Fingerprint,
			Status: e.Existing.Status, Body: body, Position: e.Existing.Position, CreatedAt: created}}
	}
	return errors.New("unknown job error " + string(raw))
}

// answer sends each job its outcome (err, the group's own error, to every job
// without one) and reports the commit.
func (s *Store) answer(batch []*appendJob, outcomes []eventstore.Outcome, err error, took time.Duration) {
	info := eventstore.SettleGroup(outcomes, err, took)
	for i, job := range batch {
		job.outcome <- outcomes[i]
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(info)
	}
}
