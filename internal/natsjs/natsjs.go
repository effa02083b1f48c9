// Package natsjs adapts NATS JetStream for ticketd: a Watermill publisher
// that starts without a reachable server, creates its stream when missing,
// and publishes each message only if the stream ends where the publisher
// expects (JetStream's expected last sequence), so that a stale publisher
// cannot reorder or repeat what the stream holds.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticketd/ticketd/eventstore"
)

// Config configures a Publisher.
type Config struct {
	// URL is the NATS server, or a comma-separated list of them. Log lines
	// and errors show it through Redact.
	URL string
	// Stream is the JetStream stream the published subjects belong to; it is
	// created with Subjects and DuplicateWindow when missing and used as it
	// is otherwise. Only this publisher (one at a time) may publish to it:
	// another publisher's message makes this one's next publish refused.
	Stream   string
	Subjects []string
	// DuplicateWindow is how long a created stream remembers message ids to
	// drop duplicates. Default 2m.
	DuplicateWindow time.Duration
	// AckTimeout bounds the wait for JetStream to acknowledge one publish
	// or answer a stream lookup. Default 5s.
	AckTimeout time.Duration
	// ReconnectWait is the pause between connection attempts. Default 1s.
	ReconnectWait time.Duration
	// ClientName is the connection's name as the server shows it.
	ClientName string
	// OnRefused, when set, is called each time JetStream refuses a publish
	// as out of order. It must be fast.
	OnRefused func()
	Logger    *slog.Logger
}

// Validate reports a missing URL, stream or subject.
func (c Config) Validate() error {
	if c.URL == "" || c.Stream == "" || len(c.Subjects) == 0 {
		return errors.New("natsjs config: URL, Stream and Subjects are required")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 5 * time.Second
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Publisher publishes Watermill messages to JetStream, the topic being the
// subject, in the Watermill NATS encoding (metadata as headers), each with
// its UUID as Nats-Msg-Id and with the stream sequence it must follow as
// Nats-Expected-Last-Sequence: the sequence Resume read, then the one of its
// own last publish. JetStream refuses a publish after which the stream
// would not hold it right after that sequence, so a publisher whose view is
// stale (another one published meanwhile) publishes nothing: Publish then
// fails with eventstore.ErrOutOfOrder until the next Resume. It returns
// only after JetStream stored the message. While the server is unreachable
// every publish fails at once and the connection is retried in the
// background.
//
// Publisher is a relay's eventstore.Resumer. It is safe for concurrent
// use; publishes are serialized.
type Publisher struct {
	cfg       Config
	conn      *nats.Conn
	js        jetstream.JetStream
	marshaler wmnats.NATSMarshaler

	mu          sync.Mutex
	streamReady bool   // the stream was found or created on this connection
	resumed     bool   // lastSeq is known: Resume ran, and nothing was refused since
	lastSeq     uint64 // the stream's last sequence, as this publisher expects it
}

// NewPublisher returns a publisher to cfg.URL; it does not wait for the
// server. It fails on an invalid config or URL.
func NewPublisher(cfg Config) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Publisher{cfg: cfg}
	log := cfg.Logger.With("nats_url", Redact(cfg.URL))
	conn, err := nats.Connect(cfg.URL,
		nats.Name(cfg.ClientName),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectBufSize(-1), // fail publishes while disconnected instead of queueing them
		nats.ConnectHandler(func(*nats.Conn) { log.Info("nats connected") }),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			p.forgetStream()
			if err != nil {
				log.Warn("nats disconnected; reconnecting", "error", err)
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", Redact(cfg.URL), err)
	}
	p.conn = conn
	if p.js, err = jetstream.New(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats jetstream: %w", err)
	}
	return p, nil
}

// Resume makes sure the stream exists, reads where it ends and expects the
// next publish to continue it; it returns the position (the
// eventstore.MessagePosition header) of the stream's last message, found
// false when the stream holds no message or its last one carries no
// position. It fails when the server is unreachable.
func (p *Publisher) Resume(ctx context.Context) (last int64, found bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureStream(); err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	stream, err := p.js.Stream(ctx, p.cfg.Stream)
	if err != nil {
		p.streamReady = false
		return 0, false, fmt.Errorf("nats stream %s: %w", p.cfg.Stream, err)
	}
	state := stream.CachedInfo().State
	if state.Msgs > 0 {
		msg, err := stream.GetMsg(ctx, state.LastSeq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound): // deleted: no position known
		case err != nil:
			return 0, false, fmt.Errorf("nats stream %s: last message %d: %w", p.cfg.Stream, state.LastSeq, err)
		default:
			last, err = strconv.ParseInt(msg.Header.Get(eventstore.MessagePosition), 10, 64)
			found = err == nil
		}
	}
	p.lastSeq, p.resumed = state.LastSeq, true
	return last, found, nil
}

// Publish stores msgs on subject topic in order, making sure first that the
// stream exists, each only right after the sequence this publisher expects
// the stream to end at. It fails with an error wrapping
// eventstore.ErrOutOfOrder, having stored nothing more, when JetStream
// refuses that (the stream moved on without this publisher, or holds the
// message already elsewhere) or before any Resume; and with another error,
// to be retried, when the server is unreachable or does not acknowledge in
// time. A retried message that the server had stored after all counts as
// published.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureStream(); err != nil {
		return err
	}
	if !p.resumed {
		return fmt.Errorf("nats stream %s: not resumed since the last refusal: %w", p.cfg.Stream, eventstore.ErrOutOfOrder)
	}
	for _, msg := range msgs {
		nmsg, err := p.marshaler.Marshal(topic, msg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.AckTimeout)
		ack, err := p.js.PublishMsg(ctx, nmsg, jetstream.WithMsgID(msg.UUID), jetstream.WithExpectLastSequence(p.lastSeq))
		cancel()
		switch {
		case wrongLastSequence(err) || err == nil && ack.Duplicate && ack.Sequence != p.lastSeq+1:
			p.resumed = false
			if p.cfg.OnRefused != nil {
				p.cfg.OnRefused()
			}
			return fmt.Errorf("nats stream %s: publish of %s after sequence %d refused: %w", p.cfg.Stream, msg.UUID, p.lastSeq, eventstore.ErrOutOfOrder)
		case err != nil:
			p.streamReady = false // it may have been deleted; look again before the next publish
			return fmt.Errorf("nats publish: %w", err)
		}
		p.lastSeq = ack.Sequence
	}
	return nil
}

// wrongLastSequence reports whether err is JetStream's refusal of an
// expected last sequence (10071, or 10164 on a replicated stream).
func wrongLastSequence(err error) bool {
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	code := jsErr.APIError().ErrorCode
	return code == jetstream.JSErrCodeStreamWrongLastSequence || code == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// ensureStream looks the stream up, creating it when missing, once per
// connection and after every failed publish. The caller holds p.mu.
func (p *Publisher) ensureStream() error {
	if p.streamReady {
		return nil
	}
	if !p.conn.IsConnected() {
		return fmt.Errorf("nats %s: not connected", Redact(p.cfg.URL))
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.AckTimeout)
	defer cancel()
	_, err := p.js.Stream(ctx, p.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:       p.cfg.Stream,
			Subjects:   p.cfg.Subjects,
			Storage:    jetstream.FileStorage,
			Duplicates: p.cfg.DuplicateWindow,
		})
		if err == nil {
			p.cfg.Logger.Info("nats stream created", "stream", p.cfg.Stream, "subjects", p.cfg.Subjects)
		}
	}
	if err != nil {
		return fmt.Errorf("nats stream %s: %w", p.cfg.Stream, err)
	}
	p.streamReady = true
	return nil
}

func (p *Publisher) forgetStream() {
	p.mu.Lock()
	p.streamReady = false
	p.mu.Unlock()
}

// Close closes the connection; a publish in progress fails.
func (p *Publisher) Close() error {
	p.conn.Close()
	return nil
}
