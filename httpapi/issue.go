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
	cmd, showingCmd, key, ok := s.parseIssue(c)
	if !ok {
		return
	}
	var out app.Outcome[app.Issued]
	var err error
	if showingCmd != nil {
		out, err = s.commands.IssueForShowing(c.Request.Context(), commandRequest(c, key), *showingCmd, issueAnswers)
	} else {
		out, err = s.commands.Issue(c.Request.Context(), commandRequest(c, key), cmd, issueAnswers)
	}
	if err == nil && !out.Replayed {
		c.Set(logTicketsIssued, len(out.Result.TicketIDs))
		c.Header("Location", "/tickets/"+out.Result.TicketIDs[0])
	}
	s.respond(c, out.Reply, err)
}

// parseIssue decodes and validates an issue request: one that names a
// showing_id or a hold_id is sold against a showing (showingCmd), any other
// as the seed's (cmd). ok is false when a problem was answered.
func (s *Server) parseIssue(c *gin.Context) (cmd domain.IssueTickets, showingCmd *domain.IssueShowingTickets, key string, ok bool) {
	key, ok = s.parseCommand(c, domain.ShowingIssueFields, func(obj jsonObject, v *domain.Violations) {
		if obj.present("showing_id") || obj.present("hold_id") {
			showingCmd = parseShowingIssue(obj, v)
			return
		}
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
	return cmd, showingCmd, key, ok
}

// parseShowingIssue decodes an issue against a showing or a hold: the
// showing's theater, movie and price may be left out, and so may quantity
// (with a hold: the hold's; else 1).
func parseShowingIssue(obj jsonObject, v *domain.Violations) *domain.IssueShowingTickets {
	cmd := &domain.IssueShowingTickets{UserID: obj.text(v, "user_id")}
	cmd.ShowingID, _ = obj.optionalText(v, "showing_id")
	cmd.HoldID, _ = obj.optionalText(v, "hold_id")
	cmd.TheaterName, _ = obj.optionalText(v, "theater_name")
	cmd.MovieTitle, _ = obj.optionalText(v, "movie_title")
	cmd.PriceKRW = obj.optionalInteger(v, "price_krw")
	if _, sent := obj["quantity"]; sent {
		q := obj.integer(v, "quantity", false, domain.DefaultQuantity)
		cmd.Quantity = &q
	}
	cmd.Memo, _ = obj.optionalText(v, "memo")
	v.Merge(cmd.Validate())
	return cmd
}

// issueJSON is the body of a successful issue.
type issueJSON struct {
	TicketIDs []string         `json:"ticket_ids"`
	Count     int              `json:"count"`
	Summary   issueSummaryJSON `json:"summary"`
}

// issueSummaryJSON is the summary of an issue; ShowingID is absent for
// tickets sold without a showing, so the seed's answers stay as they were.
type issueSummaryJSON struct {
	TheaterName string  `json:"theater_name"`
	MovieTitle  string  `json:"movie_title"`
	PriceKRW    int64   `json:"price_krw"`
	ShowingID   *string `json:"showing_id,omitempty"`
}

func newIssueJSON(r app.Issued) any {
	return issueJSON{TicketIDs: r.TicketIDs, Count: len(r.TicketIDs),
		Summary: issueSummaryJSON{TheaterName: r.Ticket.TheaterName, MovieTitle: r.Ticket.MovieTitle, PriceKRW: r.Ticket.PriceKRW, ShowingID: r.Ticket.ShowingID}}
}
