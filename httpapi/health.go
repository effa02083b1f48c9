package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// WritableDatabase is what readiness needs of the database.
type WritableDatabase interface {
	// CheckWritable returns nil when the database takes writes now.
	CheckWritable(ctx context.Context) error
}

// ChainHead is what readiness needs of the event log's hash chain.
type ChainHead interface {
	// CheckHead returns nil when the stored hash of the log's last event
	// is one the next append can chain from; appends fail while it does
	// not.
	CheckHead(ctx context.Context) error
}

// Consumer follows the event log: a relay or a projection.
type Consumer interface {
	// Position returns the position of the last event it processed.
	Position() int64
}

// RebuiltConsumer is a read model that may be rebuilt from the log.
type RebuiltConsumer interface {
	Consumer
	// Rebuilding reports whether it is being rebuilt.
	Rebuilding() bool
}

// Readiness is what GET /readyz checks. The zero value checks nothing.
type Readiness struct {
	// Database must take writes; nil skips the check (named "database").
	Database WritableDatabase
	// Chain, when set, must have a log head the next append can chain from
	// (the check named "chain").
	Chain ChainHead
	// Consumers, by check name, must each be within Config.ReadyMaxLag
	// events of the log's head.
	Consumers map[string]Consumer
	// Reported consumers, by check name, have their lag shown but never
	// make the service unready: those that feed other systems, not queries.
	Reported map[string]Consumer
	// Rebuilt read models, by check name, are shown only while they are
	// rebuilt from the log after a change of their version (their queries
	// answer 503 meanwhile); they never make the service unready. A gating
	// consumer being rebuilt fails its check.
	Rebuilt map[string]RebuiltConsumer
	// Disk, when set, must have at least Config.MinFreeBytes free (the
	// check named "disk"), so the service turns unready before SQLite
	// meets a full disk.
	Disk DiskSpace
	// Role, when set, names the instance and says whether it leads the
	// projectors: the body's "instance" and "leader".
	Role InstanceRole
}

// InstanceRole is an instance's place in a cluster.
type InstanceRole interface {
	// Instance returns the instance's name.
	Instance() string
	// Leader reports whether it is the projector leader now.
	Leader() bool
}

// DiskSpace is what readiness needs of the database's filesystem.
type DiskSpace interface {
	// FreeBytes returns the bytes the database can still grow into.
	FreeBytes() (int64, error)
}

// Outcomes of a readiness check.
const (
	checkOK      = "ok"
	checkFailing = "failing"
)

// databaseCheckName names the database's readiness check, chainCheckName
// the log head's, diskCheckName the disk headroom's.
const (
	databaseCheckName = "database"
	chainCheckName    = "chain"
	diskCheckName     = "disk"
)

// readinessCheck is one check's outcome in a /readyz body.
type readinessCheck struct {
	Status string `json:"status"`
	// LagEvents is set for consumers only.
	LagEvents *int64 `json:"lag_events,omitempty"`
	// FreeBytes is set for the disk check only, when measured.
	FreeBytes *int64 `json:"free_bytes,omitempty"`
	Detail    string `json:"detail"`
}

// readyBody is the 200 body of /readyz.
type readyBody struct {
	Status string                    `json:"status"`
	Checks map[string]readinessCheck `json:"checks"`
	roleFields
}

// notReadyProblem is the 503 body of /readyz: problem details whose detail
// names every failing check, extended with every check's outcome and the
// instance's name and leadership ("instance" being the problem's URI, the
// name is "instance_id" here).
type notReadyProblem struct {
	Problem
	Checks     map[string]readinessCheck `json:"checks"`
	InstanceID *string                   `json:"instance_id,omitempty"`
	Leader     *bool                     `json:"leader,omitempty"`
}

// roleFields are the instance's name and leadership in a /readyz body,
// left out without a Readiness.Role.
type roleFields struct {
	Instance *string `json:"instance,omitempty"`
	Leader   *bool   `json:"leader,omitempty"`
}

func (r Readiness) roleFields() roleFields {
	if r.Role == nil {
		return roleFields{}
	}
	instance, leader := r.Role.Instance(), r.Role.Leader()
	return roleFields{Instance: &instance, Leader: &leader}
}

// checkNames returns the name of every check r runs.
func (r Readiness) checkNames() []string {
	var names []string
	if r.Database != nil {
		names = append(names, databaseCheckName)
	}
	if r.Chain != nil {
		names = append(names, chainCheckName)
	}
	if r.Disk != nil {
		names = append(names, diskCheckName)
	}
	for _, consumers := range []map[string]Consumer{r.Consumers, r.Reported} {
		for name := range consumers {
			names = append(names, name)
		}
	}
	return names
}

// registerOperations adds the endpoints operators and orchestrators use.
// Every readiness check's failing gauge starts at 0, until a probe runs it.
func (s *Server) registerOperations(r gin.IRoutes) {
	if s.metrics != nil {
		for _, name := range s.readiness.checkNames() {
			s.metrics.ReadinessChecked(name, false)
		}
	}
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.metrics != nil {
		r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	}
}

// probeRoutes are the health probes' routes: their requests (GET and HEAD)
// are logged at DEBUG, as orchestrators send them every few seconds.
var probeRoutes = []string{"/healthz", "/readyz"}

// isProbe reports whether c is a request to a probeRoutes route.
func isProbe(c *gin.Context) bool { return slices.Contains(probeRoutes, c.FullPath()) }

// notOperations reports whether c is neither a probe nor a scrape of
// /metrics: those are not traced.
func notOperations(c *gin.Context) bool { return !isProbe(c) && c.FullPath() != "/metrics" }

// healthz answers 200 while the process serves HTTP at all.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when every readiness check passes, else 503 naming the
// failing ones.
func (s *Server) readyz(c *gin.Context) {
	checks := make(map[string]readinessCheck, len(s.readiness.Consumers)+len(s.readiness.Reported)+1)
	writable := true
	if db := s.readiness.Database; db != nil {
		checks[databaseCheckName] = s.checkDatabase(c, db)
		writable = checks[databaseCheckName].Status == checkOK
	}
	if chain := s.readiness.Chain; chain != nil {
		checks[chainCheckName] = s.checkChain(c, chain)
	}
	if disk := s.readiness.Disk; disk != nil {
		checks[diskCheckName] = s.checkDisk(c, disk)
	}
	for name, consumer := range s.readiness.Consumers {
		checks[name] = s.checkConsumer(consumer, true, writable)
	}
	for name, consumer := range s.readiness.Reported {
		checks[name] = s.checkConsumer(consumer, false, writable)
	}
	for name, model := range s.readiness.Rebuilt {
		if model.Rebuilding() {
			checks[name] = s.checkConsumer(model, false, writable)
		}
	}
	var failing []string
	for name, check := range checks {
		if s.metrics != nil {
			s.metrics.ReadinessChecked(name, check.Status == checkFailing)
		}
		if check.Status == checkFailing {
			failing = append(failing, name+" "+check.Detail)
		}
	}
	if len(failing) == 0 {
		c.JSON(http.StatusOK, readyBody{Status: "ready", Checks: checks, roleFields: s.readiness.roleFields()})
		return
	}
	slices.Sort(failing)
	role := s.readiness.roleFields()
	kind := kindUnavailable
	c.Header("Retry-After", "1")
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(kind.status, notReadyProblem{
		Problem: Problem{Type: problemTypeBase + kind.slug, Title: kind.title, Status: kind.status,
			Detail: "Not ready: " + strings.Join(failing, "; ") + ".", Instance: c.Request.URL.Path, RequestID: requestID(c)},
		Checks:     checks,
		InstanceID: role.Instance,
		Leader:     role.Leader,
	})
}

func (s *Server) checkDatabase(c *gin.Context, db WritableDatabase) readinessCheck {
	if err := db.CheckWritable(c.Request.Context()); err != nil {
		s.cfg.Logger.Warn("readiness: database cannot take writes", "request_id", requestID(c), "error", err)
		return readinessCheck{Status: checkFailing, Detail: "cannot take writes: " + domain.ErrorMessage(err)}
	}
	return readinessCheck{Status: checkOK, Detail: "takes writes"}
}

// checkChain fails when the log's head cannot be chained from, naming the
// position and the command that finds what was changed, or cannot be read.
func (s *Server) checkChain(c *gin.Context, chain ChainHead) readinessCheck {
	err := chain.CheckHead(c.Request.Context())
	var broken *eventstore.BrokenHeadError
	switch {
	case errors.As(err, &broken):
		return readinessCheck{Status: checkFailing, Detail: "is broken: " + broken.Error()}
	case err != nil:
		s.cfg.Logger.Warn("readiness: the log's head cannot be read", "request_id", requestID(c), "error", err)
		return readinessCheck{Status: checkFailing, Detail: "cannot be read: " + domain.ErrorMessage(err)}
	}
	return readinessCheck{Status: checkOK, Detail: "holds: the next append chains from the last event's hash"}
}

// checkDisk fails when the database's filesystem has less than
// Config.MinFreeBytes free, or cannot be measured.
func (s *Server) checkDisk(c *gin.Context, disk DiskSpace) readinessCheck {
	free, err := disk.FreeBytes()
	if err != nil {
		s.cfg.Logger.Warn("readiness: free disk space unknown", "request_id", requestID(c), "error", err)
		return readinessCheck{Status: checkFailing, Detail: "cannot be measured: " + err.Error()}
	}
	check := readinessCheck{Status: checkOK, FreeBytes: &free,
		Detail: fmt.Sprintf("has %d bytes free on the database's filesystem (at least %d required)", free, s.cfg.MinFreeBytes)}
	if free < s.cfg.MinFreeBytes {
		check.Status = checkFailing
		check.Detail = fmt.Sprintf("has only %d bytes free on the database's filesystem, below the %d required: free space before writes fail", free, s.cfg.MinFreeBytes)
	}
	return check
}

// checkConsumer reports how far consumer is behind the log's head; it fails
// above Config.ReadyMaxLag when gating is set. A gating consumer behind
// while the database takes no writes (writable unset) is said to wait for
// it: projections store what they apply, and the embedded relay waits for
// them.
func (s *Server) checkConsumer(consumer Consumer, gating, writable bool) readinessCheck {
	pos := consumer.Position() // before the head, so the lag is never negative
	head := s.log.Head()
	lag := max(head-pos, 0)
	check := readinessCheck{Status: checkOK, LagEvents: &lag}
	if model, ok := consumer.(RebuiltConsumer); ok && model.Rebuilding() {
		check.Detail = fmt.Sprintf("is being rebuilt from the log after a change of its version, %d events behind the log head %d: its queries answer 503 until it is done", lag, head)
		if gating {
			check.Status = checkFailing
		}
		return check
	}
	if !gating {
		check.Detail = fmt.Sprintf("is %d events behind the log head %d (reported only: it does not affect readiness)", lag, head)
		return check
	}
	if lag > s.cfg.ReadyMaxLag {
		check.Status = checkFailing
	}
	check.Detail = fmt.Sprintf("is %d events behind the log head %d (at most %d allowed)", lag, head, s.cfg.ReadyMaxLag)
	if lag > 0 && !writable {
		check.Detail += "; it catches up once the database takes writes"
	}
	return check
}
