package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/eventstore"
)

// auditVerify runs the full audit of `ticketd verify` on the live database
// and answers its report: 200 whether or not problems were found (the
// report's "ok" says which), an error only when the database cannot be read.
// One audit runs at a time, as each reads the whole log; another meanwhile is
// 429 with Retry-After.
func (s *Server) auditVerify(c *gin.Context) {
	release, ok := tryTake(s.auditRunning)
	if !ok {
		writeProblem(c, kindTooMany, "An audit is already running; one runs at a time.", nil)
		return
	}
	defer release()
	rep, err := s.auditor.Audit(c.Request.Context())
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

// auditHeadJSON is the body of GET /audit/head.
type auditHeadJSON struct {
	Position int64  `json:"position"`
	Hash     string `json:"hash"`
}

// auditHead answers the position and hash of the last committed event, or
// for an empty log position 0 and eventstore.GenesisHash, the prev_hash the
// first event chains from. A head saved from here is what `ticketd verify
// --expect-head` proves the log still holds. A last event whose stored hash
// was edited into a non-hash is a 500 naming its position in the log line,
// never a head that no verifier could check.
func (s *Server) auditHead(c *gin.Context) {
	position, hash := s.log.LogHead()
	if !eventstore.IsHash(hash) {
		writeError(c, s.cfg.Logger, &eventstore.CorruptEventError{Position: position, Field: "hash"})
		return
	}
	c.JSON(http.StatusOK, auditHeadJSON{Position: position, Hash: hash})
}
