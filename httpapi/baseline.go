package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/app"
)

// NewBaseline returns the reference the benchmark compares the API with: a
// bare Gin engine (no middleware, no storage) whose POST /tickets/issue
// decodes, validates, decides and encodes its answer exactly as the API
// does, without appending, and whose GET /tickets/{id} answers a ticket from
// memory. It is not part of the service.
func NewBaseline() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{}
	s.cfg.setDefaults()
	commands := app.New(nil, nil) // deciding an issue reads no log
	s.tracer = s.cfg.TracerProvider.Tracer(tracerName)
	e := gin.New()
	e.POST("/tickets/issue", func(c *gin.Context) {
		cmd, _, _, ok := s.parseIssue(c)
		if !ok {
			return
		}
		decided, err := commands.DecideIssue(cmd)
		if err != nil {
			writeError(c, s.cfg.Logger, err)
			return
		}
		answer, err := issueAnswers.EncodeAnswer(decided.Result)
		if err != nil {
			writeError(c, s.cfg.Logger, err)
			return
		}
		c.Data(answer.Status, "application/json; charset=utf-8", answer.Body)
	})
	memo := "VIP석"
	issuedAt := time.Now()
	e.GET("/tickets/:ticket_id", func(c *gin.Context) {
		c.JSON(http.StatusOK, newTicketJSON(domain.Ticket{
			ID: c.Param("ticket_id"), TheaterName: "CGV 강남", UserID: "user123", MovieTitle: "영화 제목",
			PriceKRW: 15000, Status: domain.StatusIssued, Memo: &memo, IssuedAt: issuedAt, Version: 1,
		}))
	})
	return e
}
