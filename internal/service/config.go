package service

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/natsjs"
	"github.com/ticketd/ticketd/internal/tracing"
	"github.com/ticketd/ticketd/projections"
)

// ErrConfig marks an invalid setting: errors of Validate and of Start's
// configuration checks wrap it, and their text names the setting by its
// `ticketd serve` flag (and variable, where one is read). cmd/ticketd exits
// 2 on it.
var ErrConfig = errors.New("usage error")

// Config is everything a service is configured with. Each field is the
// `ticketd serve` flag its comment names; DefaultConfig holds the defaults
// the flags show.
type Config struct {
	Addr string // --addr: host:port to listen on
	// DB is a SQLite database file, created with its folder if missing, or
	// the postgres:// or postgresql:// URL of a PostgreSQL database that
	// exists (--db).
	DB string
	// PGSchema is the PostgreSQL schema of ticketd's tables, created when
	// missing (--pg-schema).
	PGSchema string
	// BodyLimit is the largest request body in bytes (--body-limit).
	BodyLimit int64
	// ConsistencyTimeout bounds how long a command waits for the read model
	// and a read for its Ticketd-Min-Position (--consistency-timeout).
	ConsistencyTimeout time.Duration
	// IdempotencyTTL is how long Idempotency-Key records are kept, at least
	// (--idempotency-ttl).
	IdempotencyTTL    time.Duration
	ReadHeaderTimeout time.Duration // --read-header-timeout
	ReadTimeout       time.Duration // --read-timeout
	WriteTimeout      time.Duration // --write-timeout
	IdleTimeout       time.Duration // --idle-timeout
	ShutdownTimeout   time.Duration // --shutdown-timeout
	// MaxHeaderBytes bounds the request line and header block (--max-header-bytes).
	MaxHeaderBytes int64
	// ReadyMaxLag is how far consumers may lag while /readyz is ready (--ready-max-lag).
	ReadyMaxLag int64
	// MinFreeBytes is the free space the database's filesystem must keep
	// while /readyz is ready (--min-free-bytes).
	MinFreeBytes int64
	SSEHeartbeat time.Duration // --sse-heartbeat
	SSELinger    time.Duration // --sse-linger
	MaxStreams   int64         // --max-streams
	// MaxWaitingReads bounds the reads waiting for their
	// Ticketd-Min-Position at once (--max-waiting-reads).
	MaxWaitingReads int64
	// CORSOrigins is the comma list of origins allowed to call the API, or
	// "*" (--cors-origins).
	CORSOrigins string
	// DebugAddr, when set, is the address of the pprof and expvar listener
	// (--debug-addr).
	DebugAddr string
	// Cluster runs this instance as one of several on one PostgreSQL
	// database: the single-instance lock is shared with the others, and the
	// projectors and relays run only on the elected leader (--cluster).
	Cluster bool
	// InstanceID names this instance in logs, /readyz and metrics; empty
	// is DefaultInstanceID (--instance-id).
	InstanceID string
	// LeaderPoll is how often an instance that does not lead tries to take
	// the leadership lease, and the longest the leader waits between
	// renewals (--leader-poll).
	LeaderPoll time.Duration
	// LeaderLease is how long the leadership lease lasts after each
	// renewal, on the PostgreSQL server's clock: a leader that stops
	// renewing (hung, paused, cut off) is replaced this long after its last
	// renewal, and its writes are refused from then on (--leader-lease).
	LeaderLease time.Duration
	NATS        NATSConfig
	Access      AccessConfig
	// Build is reported by the ticketd_build_info metric.
	Build BuildInfo
	// Tracing traces requests and appends (cmd/ticketd sets it from the
	// OTEL_* environment); nil traces nothing.
	Tracing *tracing.Tracing
	// Now is the one clock of the service: stamped on appended events,
	// deciding the log's seats, closing sales, expiring holds and read by
	// the showings' queries. Nil is time.Now; tests set another (no flag).
	Now func() time.Time
	// ReadTables, when set, is given the storage of the read models' tables
	// as the service opens it and returns the storage the service uses
	// instead, which must keep the contract of projections.Storage. A seam
	// for tests (no flag): they hold or observe a read model's writes.
	ReadTables func(projections.Storage) projections.Storage
}

// NATSConfig configures the relay to NATS JetStream; an empty URL turns it off.
type NATSConfig struct {
	URL           string // --nats-url
	SubjectPrefix string // --nats-subject-prefix
	Stream        string // --nats-stream
	Source        string // --nats-source
}

// BuildInfo names the running binary.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// DefaultConfig returns the configuration of `ticketd serve` without flags.
func DefaultConfig() Config {
	return Config{
		Addr:               ":9000",
		DB:                 "data/app.db",
		PGSchema:           "public",
		BodyLimit:          64 << 10,
		ConsistencyTimeout: 5 * time.Second,
		IdempotencyTTL:     24 * time.Hour,
		ReadHeaderTimeout:  5 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        120 * time.Second,
		ShutdownTimeout:    15 * time.Second,
		MaxHeaderBytes:     64 << 10,
		ReadyMaxLag:        1000,
		MinFreeBytes:       256 << 20,
		SSEHeartbeat:       15 * time.Second,
		SSELinger:          200 * time.Millisecond,
		MaxStreams:         1000,
		MaxWaitingReads:    10_000,
		LeaderPoll:         500 * time.Millisecond,
		LeaderLease:        2 * time.Second,
		NATS: NATSConfig{
			SubjectPrefix: "ticketing.events",
			Stream:        "TICKETING_EVENTS",
			Source:        "urn:ticketd",
		},
	}
}

// Validate reports the first invalid setting in one line naming its flag,
// wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.DB == "":
		return fmt.Errorf("%w: --db must not be empty", ErrConfig)
	case c.BodyLimit < 1:
		return fmt.Errorf("%w: --body-limit must be at least 1", ErrConfig)
	case c.MaxHeaderBytes < 1 || c.MaxHeaderBytes > 64<<20:
		return fmt.Errorf("%w: --max-header-bytes must be between 1 and 67108864 (64 MiB)", ErrConfig)
	case c.ReadyMaxLag < 1:
		return fmt.Errorf("%w: --ready-max-lag must be at least 1", ErrConfig)
	case c.MaxStreams < 1 || c.MaxStreams > 1<<20:
		return fmt.Errorf("%w: --max-streams must be between 1 and 1048576", ErrConfig)
	case c.MaxWaitingReads < 1 || c.MaxWaitingReads > 1<<20:
		return fmt.Errorf("%w: --max-waiting-reads must be between 1 and 1048576", ErrConfig)
	case c.MinFreeBytes < 0:
		return fmt.Errorf("%w: --min-free-bytes must be at least 0", ErrConfig)
	case c.IdempotencyTTL < time.Hour:
		return fmt.Errorf("%w: --idempotency-ttl must be at least 1h", ErrConfig)
	case c.NATS.URL != "" && (c.NATS.Stream == "" || strings.ContainsAny(c.NATS.Stream, ".*> \t\r\n/\\")):
		return fmt.Errorf("%w: --nats-stream must be a JetStream stream name (no dots, wildcards, slashes or spaces)", ErrConfig)
	case c.NATS.URL != "" && c.NATS.Source == "":
		return fmt.Errorf("%w: --nats-source must not be empty", ErrConfig)
	case c.Cluster && !IsPostgres(c.DB):
		return fmt.Errorf("%w: --cluster ($TICKETD_CLUSTER) needs --db to be a postgres:// URL: instances share one PostgreSQL database, not a SQLite file", ErrConfig)
	}
	if err := CheckPGSchema(c.PGSchema); err != nil {
		return err
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			return fmt.Errorf("%w: --debug-addr must be HOST:PORT or :PORT: %v", ErrConfig, err)
		}
	}
	if c.NATS.URL != "" {
		if err := CheckSubjectPrefix(c.NATS.SubjectPrefix); err != nil {
			return err
		}
	}
	for name, d := range map[string]time.Duration{
		"consistency-timeout": c.ConsistencyTimeout, "read-header-timeout": c.ReadHeaderTimeout,
		"read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout, "idle-timeout": c.IdleTimeout,
		"shutdown-timeout": c.ShutdownTimeout, "sse-heartbeat": c.SSEHeartbeat, "sse-linger": c.SSELinger,
		"leader-poll": c.LeaderPoll, "leader-lease": c.LeaderLease,
	} {
		if d <= 0 {
			return fmt.Errorf("%w: --%s must be positive", ErrConfig, name)
		}
	}
	if c.LeaderLease < 2*c.LeaderPoll {
		return fmt.Errorf("%w: --leader-lease ($TICKETD_LEADER_LEASE) %s must be at least twice --leader-poll ($TICKETD_LEADER_POLL) %s: the leader renews its lease at least every --leader-poll", ErrConfig, c.LeaderLease, c.LeaderPoll)
	}
	if err := checkListenAddr(c.Addr); err != nil {
		return err
	}
	return checkNATSURL("nats-url", c.NATS.URL)
}

// CheckSubjectPrefix fails with ErrConfig, naming --nats-subject-prefix,
// unless p is one or more dot-separated NATS subject tokens without
// wildcards or whitespace.
func CheckSubjectPrefix(p string) error {
	for _, token := range strings.Split(p, ".") {
		if token == "" || strings.ContainsAny(token, "*> \t\r\n") {
			return fmt.Errorf("%w: --nats-subject-prefix must be dot-separated NATS subject tokens without wildcards or spaces", ErrConfig)
		}
	}
	return nil
}

// checkListenAddr fails with ErrConfig naming --addr unless addr is
// host:port with a numeric port from 0 to 65535 (the host may be empty).
func checkListenAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		return fmt.Errorf("%w: --addr %q: must be host:port with a port from 0 to 65535", ErrConfig, addr)
	}
	return nil
}

// checkNATSURL fails with ErrConfig naming --flag unless v is empty or a
// comma-separated list of nats:// or tls:// URLs with a host and at most a
// numeric port, as nats.Connect takes them.
func checkNATSURL(flag, v string) error {
	if v == "" {
		return nil
	}
	for _, server := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(server))
		if err == nil && (u.Scheme == "nats" || u.Scheme == "tls") && u.Hostname() != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
			if port := u.Port(); port == "" || validPort(port) {
				continue
			}
		}
		return fmt.Errorf("%w: --%s %q: must be a nats:// or tls:// URL such as nats://localhost:4222, or a comma-separated list of them", ErrConfig, flag, natsjs.Redact(v))
	}
	return nil
}

// CheckPGSchema fails with ErrConfig, naming --pg-schema and
// TICKETD_PG_SCHEMA, unless name is a PostgreSQL identifier that needs no
// quoting: 1 to 63 ASCII letters, digits or underscores, not starting with
// a digit.
func CheckPGSchema(name string) error {
	const identifier = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
	if name != "" && len(name) <= 63 && (name[0] < '0' || name[0] > '9') && strings.Trim(name, identifier) == "" {
		return nil
	}
	return fmt.Errorf("%w: --pg-schema ($TICKETD_PG_SCHEMA) %q: must be 1 to 63 letters, digits or _, not starting with a digit", ErrConfig, name)
}

// validPort reports whether port is a decimal number from 0 to 65535.
func validPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
}
