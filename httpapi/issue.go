package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/internal/app"
)

// issueAnswers answers POST /tickets/issue: 201 with the issue body.
var issueAnswers = jsonAnswers[app.Issued]{scope: "POST /tickets/issue", status: http.StatusCreated, body: newIssueJSON}

func (s *Server) issue(c *gin.Context) {
	s.setHeadPosition(c)
	cmd, key, ok := s.parseIssue(c)
	if !ok {
		return
	}
	out, err := s.commands.Issue(c.Request.Context(), commandRequest(c, key), cmd, issueAnswers)
	if err == nil && !out.Replayed {
		c.Set(logTicketsIssued, len(out.Result.TicketIDs))
		c.Header("Location", "/tickets/"+out.Result.TicketIDs[0])
	}
	s.respond(c, out.Reply, err)
}

// parseIssue decodes and validates an issue request; ok is false when a
// problem was answered.
func (s *Server) parseIssue(c *gin.Context) (cmd domain.IssueTickets, key string, ok bool) {
	key, ok = s.parseCommand(c, domain.IssueFields, func(obj jsonObject, v *domain.Violations) {
		cmd = domain.IssueTickets{
			TheaterName: obj.text(v, "theater_name"),
			UserID:      obj.text(v, "user_id"),
			MovieTitle:  obj.text(v, "movie_title"),
			PriceKRW:    obj.integer(v, "price_krw", true, 0),
			Quantity:    obj.integer(v, "quantity", false, domain.DefaultQuantity),
		}
		cmd.Memo, _ = obj.optionalText(v, "memo")
		v.Merge(cmd.Validate())
	})
	return cmd, key, ok
}

// issueJSON is the body of a successful issue.
type issueJSON struct {
	TicketIDs []string         `json:"ticket_ids"`
	Count     int              `json:"count"`
	Summary   issueSummaryJSON `json:"summary"`
}

type issueSummaryJSON struct {
	TheaterName string `json:"theater_name"`
	MovieTitle  string `json:"movie_title"`
	PriceKRW    int64  `json:"price_krw"`
}

func newIssueJSON(r app.Issued) any {
	return issueJSON{TicketIDs: r.TicketIDs, Count: len(r.TicketIDs),
		Summary: issueSummaryJSON{TheaterName: r.Ticket.TheaterName, MovieTitle: r.Ticket.MovieTitle, PriceKRW: r.Ticket.PriceKRW}}
}
