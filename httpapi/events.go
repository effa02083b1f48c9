package httpapi

import (
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// Event log paging bounds of the contract.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 1000
)

// eventPageJSON is the body of GET /events.
type eventPageJSON struct {
	Events    []eventstore.Record `json:"events"`
	NextAfter int64               `json:"next_after"`
}

// queryEventTypes returns the event types the query parameter type selects:
// none (every type) when it is empty, else the one it names; an unknown type
// is added to v.
func queryEventTypes(q url.Values, v *domain.Violations) []string {
	t := q.Get("type")
	if t == "" {
		return nil
	}
	if !domain.IsEventType(t) {
		v.Add("type", "must be one of "+strings.Join(domain.EventTypes, ", "))
	}
	return []string{t}
}

func (s *Server) ticketEvents(c *gin.Context) {
	id, ok := s.ticketParam(c)
	if !ok {
		return
	}
	records, err := s.log.ReadStream(c.Request.Context(), id)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	if len(records) == 0 {
		writeError(c, s.cfg.Logger, domain.Errorf(domain.CodeNotFound, "Ticket %q was not found.", id))
		return
	}
	c.JSON(http.StatusOK, gin.H{"events": records})
}

// events serves GET /events from the database file, never from the store's
// memory, so an auditor sees the log as it is stored, corrupt or edited rows
// included (a corrupt one is a 500).
func (s *Server) events(c *gin.Context) {
	q := queryValues(c.Request)
	var v domain.Violations
	after := queryInt(q, &v, "after", 0, 0, math.MaxInt64)
	limit := queryInt(q, &v, "limit", defaultEventsLimit, 1, maxEventsLimit)
	types := queryEventTypes(q, &v)
	if err := v.Err(); err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	records, err := s.log.ReadStored(c.Request.Context(), after, int(limit), types...)
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	next := after
	if len(records) > 0 {
		next = records[len(records)-1].Position
	}
	c.JSON(http.StatusOK, eventPageJSON{Events: records, NextAfter: next})
}
