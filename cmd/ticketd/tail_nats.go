package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/internal/natsjs"
)

// natsTail follows the CloudEvents the service publishes to JetStream.
type natsTail struct {
	cfg tailConfig
	// nextSeq is the stream sequence to read next; 0 until the first
	// connection decides it.
	nextSeq uint64
}

// follow prints events from an ordered JetStream consumer until it fails
// or ctx ends. The first connection starts at the stream's next message
// when out's position is unknown (from now), else at the stream's first
// one, skipping events at or below out's position; later ones continue
// after the last message read. connected reports whether the consumer was
// created.
func (t *natsTail) follow(ctx context.Context, out *tailOutput) (connected bool, err error) {
	nc, err := nats.Connect(t.cfg.natsURL, nats.Name("ticketd tail"), nats.MaxReconnects(-1))
	if err != nil {
		return false, fmt.Errorf("nats %s: %w", natsjs.Redact(t.cfg.natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false, err
	}
	subject := t.cfg.subjectPrefix + ".>"
	if t.cfg.eventType != "" {
		subject = t.cfg.subjectPrefix + "." + t.cfg.eventType
	}
	name, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return false, fmt.Errorf("no JetStream stream holds %s: %w", subject, err)
	}
	if t.nextSeq == 0 {
		t.nextSeq = 1
		if out.position < 0 {
			stream, err := js.Stream(ctx, name)
			if err != nil {
				return false, err
			}
			t.nextSeq = stream.CachedInfo().State.LastSeq + 1
		}
	}
	consumer, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    t.nextSeq,
	})
	if err != nil {
		return false, err
	}
	msgs, err := consumer.Messages()
	if err != nil {
		return false, err
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			return true, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return true, err
		}
		t.nextSeq = meta.Sequence.Stream + 1
		if err := t.print(msg.Data(), out); err != nil {
			return true, err
		}
		if meta.NumPending == 0 || meta.Sequence.Stream%1000 == 0 {
			if err := out.flush(); err != nil {
				return true, err
			}
		}
	}
}

// print prints the event a CloudEvent payload carries unless it is at or
// below out's position (a duplicate or before the resume point). A payload
// that is not an event fails fatally.
func (t *natsTail) print(payload []byte, out *tailOutput) error {
	rec, err := eventstore.RecordFromCloudEvent(payload)
	if err != nil {
		return tailFatal{err}
	}
	if rec.Position <= out.position {
		return nil
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return out.event(rec.Position, line)
}
