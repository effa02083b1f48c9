package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// problemTypeBase prefixes every problem type URI; the rest names the kind.
const problemTypeBase = "https://ticketd.dev/problems/"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []domain.FieldError `json:"errors,omitempty"`
}

type problemKind struct {
	status int
	slug   string
	title  string
}

var (
	kindValidation  = problemKind{http.StatusBadRequest, "validation-error", "Your request is not valid."}
	kindNotFound    = problemKind{http.StatusNotFound, "not-found", "Not found."}
	kindMethod      = problemKind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed."}
	kindConflict    = problemKind{http.StatusConflict, "conflict", "The request conflicts with an earlier one."}
	kindTooLarge    = problemKind{http.StatusRequestEntityTooLarge, "payload-too-large", "The request body is too large."}
	kindHeaderLarge = problemKind{http.StatusRequestHeaderFieldsTooLarge, "header-too-large", "The request header is too large."}
	kindMediaType   = problemKind{http.StatusUnsupportedMediaType, "unsupported-media-type", "The request body's media type is not supported."}
	kindTooMany     = problemKind{http.StatusTooManyRequests, "too-many-requests", "Too many requests of this kind are running."}
	kindUnavailable = problemKind{http.StatusServiceUnavailable, "unavailable", "The service cannot take this request now."}
	kindInternal    = problemKind{http.StatusInternalServerError, "internal-error", "An internal error occurred."}
)

// kindOf maps each domain error code to the problem it is shown as.
var kindOf = map[domain.Code]problemKind{
	domain.CodeInvalid:     kindValidation,
	domain.CodeNotFound:    kindNotFound,
	domain.CodeConflict:    kindConflict,
	domain.CodeUnavailable: kindUnavailable,
	domain.CodeInternal:    kindInternal,
}

// kindOfRule maps each rule of selling seats to the 409 problem it is
// shown as, its type ending in the rule's name.
var kindOfRule = map[domain.Rule]problemKind{
	domain.RuleSoldOut:       {http.StatusConflict, string(domain.RuleSoldOut), "Sold out."},
	domain.RuleLimitExceeded: {http.StatusConflict, string(domain.RuleLimitExceeded), "The buyer's limit is exceeded."},
	domain.RuleSalesClosed:   {http.StatusConflict, string(domain.RuleSalesClosed), "Sales are closed."},
	domain.RuleHoldExpired:   {http.StatusConflict, string(domain.RuleHoldExpired), "The hold has expired."},
	domain.RuleHoldUsed:      {http.StatusConflict, string(domain.RuleHoldUsed), "The hold was used."},
	domain.RuleHoldReleased:  {http.StatusConflict, string(domain.RuleHoldReleased), "The hold was released."},
}

// writeProblem aborts the request with a problem of the given kind; a 429
// or 503 says when to retry.
func writeProblem(c *gin.Context, kind problemKind, detail string, fields []domain.FieldError) {
	writeProblemWith(c, kind, detail, fields, nil)
}

// writeProblemWith is writeProblem with members beyond the problem's own
// (the facts of a broken rule), which must not be named as those are.
func writeProblemWith(c *gin.Context, kind problemKind, detail string, fields []domain.FieldError, members map[string]int64) {
	if kind.status == http.StatusServiceUnavailable || kind.status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	c.Header("Content-Type", "application/problem+json")
	p := Problem{
		Type:      problemTypeBase + kind.slug,
		Title:     kind.title,
		Status:    kind.status,
		Detail:    detail,
		Instance:  c.Request.URL.Path,
		RequestID: requestID(c),
		Errors:    fields,
	}
	if len(members) == 0 {
		c.AbortWithStatusJSON(kind.status, p)
		return
	}
	body := gin.H{"type": p.Type, "title": p.Title, "status": p.Status, "detail": p.Detail, "instance": p.Instance, "request_id": p.RequestID}
	for k, v := range members {
		body[k] = v
	}
	c.AbortWithStatusJSON(kind.status, body)
}

// writeError answers with the problem err's domain code maps to. Internal
// errors are logged with the request id (and the position of a corrupt
// event) and shown without detail.
func writeError(c *gin.Context, logger *slog.Logger, err error) {
	if rule, ok := kindOfRule[domain.ErrorRule(err)]; ok {
		var e *domain.Error
		errors.As(err, &e)
		writeProblemWith(c, rule, e.Message, nil, e.Facts)
		return
	}
	kind := kindOf[domain.ErrorCode(err)]
	switch kind.status {
	case http.StatusInternalServerError:
		logger.Error("request failed", errorAttrs(c, err)...)
		writeProblem(c, kind, "An internal error occurred; quote request id "+requestID(c)+" when reporting it.", nil)
		return
	case http.StatusServiceUnavailable:
		logger.Warn("request refused: service unavailable", errorAttrs(c, err)...)
	}
	writeProblem(c, kind, domain.ErrorMessage(err), domain.FieldErrors(err))
}

// errorAttrs are the log attributes of a request that failed with err: its
// id, route and error, and the position of the event err names (a corrupt
// event, a broken log head).
func errorAttrs(c *gin.Context, err error) []any {
	attrs := []any{"request_id", requestID(c), "route", c.FullPath(), "error", err}
	var corrupt *eventstore.CorruptEventError
	var broken *eventstore.BrokenHeadError
	switch {
	case errors.As(err, &corrupt):
		attrs = append(attrs, "position", corrupt.Position)
	case errors.As(err, &broken):
		attrs = append(attrs, "position", broken.Position)
	}
	return attrs
}
