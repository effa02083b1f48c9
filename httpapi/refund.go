package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
)

// refundAnswers answers POST /tickets/refund: 200 with the three lists.
var refundAnswers = jsonAnswers[domain.RefundDecision]{scope: "POST /tickets/refund", status: http.StatusOK, body: newRefundJSON}

func (s *Server) refund(c *gin.Context) {
	s.setHeadPosition(c)
	var cmd domain.RefundTickets
	key, ok := s.parseCommand(c, domain.RefundFields, func(obj jsonObject, v *domain.Violations) {
		cmd.TicketIDs = obj.textArray(v, "ticket_ids")
		cmd.Reason, _ = obj.optionalText(v, "reason")
		v.Merge(cmd.Validate())
	})
	if !ok {
		return
	}
	out, err := s.commands.Refund(c.Request.Context(), commandRequest(c, key), cmd, refundAnswers)
	if err == nil && !out.Replayed {
		c.Set(logTicketsRefunded, len(out.Result.Refunded))
	}
	s.respond(c, out.Reply, err)
}

// refundJSON is the body of a refund.
type refundJSON struct {
	Refunded        []string `json:"refunded"`
	AlreadyCanceled []string `json:"already_canceled"`
	NotFound        []string `json:"not_found"`
}

func newRefundJSON(d domain.RefundDecision) any {
	return refundJSON{Refunded: d.Refunded, AlreadyCanceled: d.AlreadyCanceled, NotFound: d.NotFound}
}
