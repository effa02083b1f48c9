package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ticketd/ticketd/internal/watermark"
)

// Metadata keys every relayed message carries besides its payload.
const (
	MessagePosition      = "position"
	MessageType          = "type"
	MessageStreamID      = "stream_id"
	MessageCorrelationID = "correlation_id"
	// MessageFirstPosition is the position of the first event a batch
	// message carries; MessagePosition that of its last.
	MessageFirstPosition = "first_position"
)

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Name identifies the relay's checkpoint; two relays with one name share it.
	Name string
	// Topic is the Watermill topic messages are published to, unless
	// TopicFor is set.
	Topic string
	// TopicFor, when set, returns the topic of each event instead of Topic
	// (a broker subject per event type, say). It must be fast and pure.
	TopicFor func(Record) string
	// Encode returns the message published for an event; an error stops the
	// round and is retried like a failed publish. Default NewMessage.
	Encode func(Record) (*message.Message, error)
	// Batched makes each round publish the events it read as one message
	// (NewBatchMessage) to Topic, for consumers that apply events in
	// batches; TopicFor and Encode must then be unset.
	Batched bool
	// BatchSize is how many events are read and published per round. Default 500.
	BatchSize int
	// MaxBackoff caps the wait between retries after a failed publish. Default 5s.
	MaxBackoff time.Duration
	// CheckpointInterval is how often the published position is stored (and
	// once more when Run returns); a restart republishes at most what was
	// published since. Default 1s.
	CheckpointInterval time.Duration
	Logger             *slog.Logger
}

// Validate reports a missing name or topic, and a batched relay given a
// topic or encoding per event.
func (c RelayConfig) Validate() error {
	switch {
	case c.Name == "" || (c.Topic == "" && c.TopicFor == nil):
		return errors.New("relay config: a name and a topic (Topic or TopicFor) are required")
	case c.Batched && (c.Topic == "" || c.TopicFor != nil || c.Encode != nil):
		return errors.New("relay config: a batched relay publishes to Topic, with neither TopicFor nor Encode")
	}
	return nil
}

func (c *RelayConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TopicFor == nil {
		topic := c.Topic
		c.TopicFor = func(Record) string { return topic }
	}
	if c.Encode == nil {
		c.Encode = NewMessage
	}
}

// RelayLog is what a Relay needs of a store.
type RelayLog interface {
	ReadAll(ctx context.Context, after int64, limit int, types ...string) ([]Record, error)
	Head() int64
	HeadChanged() (int64, <-chan struct{})
	Checkpoints
}

// Resumer is a publisher whose destination keeps the relayed events in
// position order and refuses, with an error wrapping ErrOutOfOrder, a
// publish that does not continue what it holds (NATS JetStream with an
// expected last sequence). A Relay resumes it before its first publish and
// after every refusal.
type Resumer interface {
	// Resume learns where the destination ends now, so that the next
	// publish must continue it, and returns the position of the last event
	// it holds; found is false when it holds none (empty, purged, or
	// ending with a message without a position). It fails when the
	// destination cannot be reached.
	Resume(ctx context.Context) (last int64, found bool, err error)
}

// Relay publishes committed events in position order, at least once, from its
// stored checkpoint: the log is the outbox. Consumers dedupe by position.
// To a Resumer it publishes from where the destination ends instead, so that
// each event is published once, in order.
type Relay struct {
	store     RelayLog
	publisher message.Publisher
	cfg       RelayConfig
	published watermark.Watermark
}

// NewRelay returns a relay of store's log to publisher. It fails on an
// invalid config.
func NewRelay(store RelayLog, publisher message.Publisher, cfg RelayConfig) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Relay{store: store, publisher: publisher, cfg: cfg}, nil
}

// Position returns the position of the last event the relay published.
func (r *Relay) Position() int64 { return r.published.Value() }

// Run publishes until ctx ends, then stores its checkpoint and returns nil.
// Failed publishes are retried with exponential backoff from the last
// published position, so nothing is skipped. Its checkpoint moves by
// compare-and-set (see Checkpoints.MoveCheckpoint) from the value it read
// at start. A publish the destination refuses as out of order makes it
// confirm its checkpoint, then resume from where the destination ends. It
// returns an error when its checkpoint cannot be read at start or stored
// at the end, and at once when a checkpoint write is refused (wrapping
// ErrCheckpointMoved or ErrFenced: another writer, or a newer leader, owns
// the checkpoint), having published nothing more.
func (r *Relay) Run(ctx context.Context) error {
	saved, err := r.store.Checkpoint(ctx, r.cfg.Name)
	if err != nil {
		return err
	}
	pos, savedAt := saved, time.Now()
	r.published.Advance(pos)
	resumer, resume := r.publisher.(Resumer)
	backoff := time.Duration(0)
	for {
		if pos > saved && time.Since(savedAt) >= r.cfg.CheckpointInterval {
			switch err := r.store.MoveCheckpoint(ctx, r.cfg.Name, saved, pos); {
			case refused(err):
				return fmt.Errorf("relay %s: %w", r.cfg.Name, err)
			case err != nil && ctx.Err() == nil:
				r.cfg.Logger.Warn("relay checkpoint not saved", "relay", r.cfg.Name, "position", pos, "error", err)
			case err == nil:
				saved = pos
			}
			savedAt = time.Now()
		}
		var err error
		if resume {
			var last int64
			var found bool
			if last, found, err = resumer.Resume(ctx); err == nil {
				resume = false
				if found {
					pos = last
					r.published.Advance(pos)
				}
			}
		} else {
			head, changed := r.store.HeadChanged()
			if head <= pos {
				select {
				case <-changed:
					continue
				case <-time.After(r.cfg.CheckpointInterval):
					continue
				case <-ctx.Done():
					return r.saveFinal(pos, saved)
				}
			}
			pos, err = r.publishBatch(ctx, pos)
		}
		if errors.Is(err, ErrOutOfOrder) {
			// The destination moved on without this relay. Unless this
			// relay's own writes are refused too (its leadership ended),
			// carry on from where the destination ends.
			confirmed := max(pos, saved)
			if err := r.store.MoveCheckpoint(ctx, r.cfg.Name, saved, confirmed); refused(err) {
				return fmt.Errorf("relay %s: publish refused as out of order, and %w", r.cfg.Name, err)
			} else if err == nil {
				saved, savedAt, resume = confirmed, time.Now(), resumer != nil
				r.cfg.Logger.Warn("relay publish refused as out of order; resuming from where the destination ends", "relay", r.cfg.Name, "after_position", pos)
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return r.saveFinal(pos, saved)
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), r.cfg.MaxBackoff)
			r.cfg.Logger.Warn("relay publish failed; retrying", "relay", r.cfg.Name, "after_position", pos,
				"lag_events", max(r.store.Head()-pos, 0), "backoff", backoff, "error", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return r.saveFinal(pos, saved)
			}
			continue
		}
		if backoff > 0 {
			r.cfg.Logger.Info("relay recovered", "relay", r.cfg.Name, "position", pos, "lag_events", max(r.store.Head()-pos, 0))
			backoff = 0
		}
	}
}

// refused reports whether a checkpoint write failed because another writer
// owns the checkpoint, rather than for a passing fault.
func refused(err error) bool {
	return errors.Is(err, ErrCheckpointMoved) || errors.Is(err, ErrFenced)
}

// saveFinal moves the checkpoint from saved to pos when pos is past it.
func (r *Relay) saveFinal(pos, saved int64) error {
	if pos <= saved {
		return nil
	}
	return r.store.MoveCheckpoint(context.Background(), r.cfg.Name, saved, pos)
}

// publishBatch publishes the events after pos in order and returns the
// position of the last one published, also when a publish fails.
func (r *Relay) publishBatch(ctx context.Context, pos int64) (int64, error) {
	records, err := r.store.ReadAll(ctx, pos, r.cfg.BatchSize)
	if err != nil || len(records) == 0 {
		return pos, err
	}
	if r.cfg.Batched {
		msg, err := NewBatchMessage(records)
		if err != nil {
			return pos, err
		}
		last := records[len(records)-1].Position
		if err := r.publisher.Publish(r.cfg.Topic, msg); err != nil {
			return pos, fmt.Errorf("publish positions %d to %d: %w", records[0].Position, last, err)
		}
		r.published.Advance(last)
		return last, nil
	}
	for _, rec := range records {
		msg, err := r.cfg.Encode(rec)
		if err != nil {
			return pos, err
		}
		if err := r.publisher.Publish(r.cfg.TopicFor(rec), msg); err != nil {
			return pos, fmt.Errorf("publish position %d: %w", rec.Position, err)
		}
		pos = rec.Position
		r.published.Advance(pos)
	}
	return pos, nil
}

// NewMessage returns the Watermill message for rec: UUID = event id, payload =
// the event's JSON, metadata = position, type, stream id, correlation id.
func NewMessage(rec Record) (*message.Message, error) {
	payload, err := json.Marshal(rec.jsonForm())
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", rec.Position, err)
	}
	return newMessage(rec, payload), nil
}

// newMessage returns a message of rec carrying payload: UUID = event id,
// metadata = position, type, stream id, correlation id.
func newMessage(rec Record, payload []byte) *message.Message {
	msg := message.NewMessage(rec.ID, payload)
	msg.Metadata.Set(MessagePosition, strconv.FormatInt(rec.Position, 10))
	msg.Metadata.Set(MessageType, rec.Type)
	msg.Metadata.Set(MessageStreamID, rec.StreamID)
	var md Metadata
	if json.Unmarshal(rec.Metadata, &md) == nil && md.CorrelationID != "" {
		msg.Metadata.Set(MessageCorrelationID, md.CorrelationID)
	}
	return msg
}

// batchKey is the context key of the records a batch message carries.
type batchKey struct{}

// NewBatchMessage returns the Watermill message of a run of consecutive
// records: payload = a JSON array of the events, metadata = the positions
// of the first and the last (MessageFirstPosition, MessagePosition). Its
// context holds the records as well, so that a subscriber in the same
// process, on a pub/sub that passes contexts on (GoChannel with
// PreserveContext), reads them without decoding the payload; they are
// shared and must not be modified.
func NewBatchMessage(records []Record) (*message.Message, error) {
	forms := make([]recordJSON, len(records))
	for i, r := range records {
		forms[i] = r.jsonForm()
	}
	payload, err := json.Marshal(forms)
	if err != nil {
		return nil, fmt.Errorf("encode events %d to %d: %w", records[0].Position, records[len(records)-1].Position, err)
	}
	first, last := strconv.FormatInt(records[0].Position, 10), strconv.FormatInt(records[len(records)-1].Position, 10)
	msg := message.NewMessage("events-"+first+"-"+last, payload)
	msg.Metadata.Set(MessageFirstPosition, first)
	msg.Metadata.Set(MessagePosition, last)
	msg.SetContext(context.WithValue(context.Background(), batchKey{}, records))
	return msg, nil
}

// RecordsFromBatchMessage returns the records of a message of
// NewBatchMessage: those its context holds, else its payload's. It fails
// when it has to decode a payload that is not an array of events.
func RecordsFromBatchMessage(msg *message.Message) ([]Record, error) {
	if records, ok := msg.Context().Value(batchKey{}).([]Record); ok {
		return records, nil
	}
	var records []Record
	if err := json.Unmarshal(msg.Payload, &records); err != nil {
		return nil, fmt.Errorf("decode message %s: %w", msg.UUID, err)
	}
	return records, nil
}

// RecordFromMessage decodes a message published by a Relay. It fails when the
// payload is not an event's JSON.
func RecordFromMessage(msg *message.Message) (Record, error) {
	var rec Record
	if err := json.Unmarshal(msg.Payload, &rec); err != nil {
		return Record{}, fmt.Errorf("decode message %s: %w", msg.UUID, err)
	}
	return rec, nil
}
