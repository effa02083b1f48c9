package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
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
