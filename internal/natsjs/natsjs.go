// Package natsjs adapts NATS JetStream for ticketd: a Watermill publisher
// (watermill-nats) that starts without a reachable server, creates its
// stream when missing and lets JetStream drop re-published messages by id.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Publisher.
type Config struct {
	// URL is the NATS server, or a comma-separated list of them. Log lines
	// and errors show it through Redact.
	URL string
	// Stream is the JetStream stream the published subjects belong to; it is
	// created with Subjects and DuplicateWindow when missing and used as it
	// is otherwise.
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
	Logger     *slog.Logger
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
// subject, each with its UUID as Nats-Msg-Id so JetStream drops a message
// published again within the stream's duplicate window. It returns only
// after JetStream stored the message. While the server is unreachable every
// publish fails at once and the connection is retried in the background.
//
// Publisher is safe for concurrent use.
type Publisher struct {
	cfg  Config
	conn *nats.Conn
	js   jetstream.JetStream
	pub  *wmnats.Publisher

	mu          sync.Mutex
	streamReady bool // the stream was found or created on this connection
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
	p.pub, err = wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			TrackMsgId:     true,
			ConnectOptions: []nats.JSOpt{nats.MaxWait(cfg.AckTimeout)},
		},
	}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("watermill nats publisher: %w", err)
	}
	return p, nil
}

// Publish stores msgs on subject topic in order, making sure first that the
// stream exists. It fails, and can be retried, when the server is
// unreachable or does not acknowledge in time.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.ensureStream(); err != nil {
		return err
	}
	if err := p.pub.Publish(topic, msgs...); err != nil {
		p.forgetStream() // it may have been deleted; look again before the next publish
		return err
	}
	return nil
}

// ensureStream looks the stream up, creating it when missing, once per
// connection and after every failed publish.
func (p *Publisher) ensureStream() error {
	p.mu.Lock()
	defer p.mu.Unlock()
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
func (p *Publisher) Close() error { return p.pub.Close() }
