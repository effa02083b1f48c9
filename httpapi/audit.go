package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// auditVerify runs the full audit of `ticketd verify` on the live database
// and answers its report: 200 whether or not problems were found (the
// report's "ok" says which), an error only when the database cannot be read.
func (s *Server) auditVerify(c *gin.Context) {
	rep, err := s.auditor.Audit(c.Request.Context())
	if err != nil {
		writeError(c, s.cfg.Logger, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
