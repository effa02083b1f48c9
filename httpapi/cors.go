package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS response header values: what a listed origin's page may send, and
// which response headers it may read besides the CORS-safelisted ones.
const (
	corsAllowMethods  = "GET, HEAD, POST, OPTIONS"
	corsAllowHeaders  = "Content-Type, Idempotency-Key, Authorization, X-API-Key, X-Request-ID, Ticketd-Min-Position"
	corsExposeHeaders = "X-Request-ID, Idempotent-Replayed, Location, Ticketd-Position"
	corsMaxAge        = "600"
)

// anyOrigin is the CORS origin list entry that allows every origin.
const anyOrigin = "*"

// ParseCORSOrigins parses a comma-separated list of origins
// ("https://shop.example", "http://localhost:3000") or the single entry "*"
// for every origin. It fails naming the first entry that is not an origin:
// scheme http or https and a host, nothing else.
func ParseCORSOrigins(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var origins []string
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == anyOrigin {
			origins = append(origins, entry)
			continue
		}
		u, err := url.Parse(entry)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return nil, fmt.Errorf("%q is not an origin such as https://shop.example or http://localhost:3000", entry)
		}
		origins = append(origins, strings.ToLower(entry))
	}
	if len(origins) > 1 && slices.Contains(origins, anyOrigin) {
		return nil, fmt.Errorf("* allows every origin and cannot be listed with others")
	}
	return origins, nil
}

// withCORS lets the pages of Config.CORSOrigins call the API. A preflight
// (OPTIONS with Access-Control-Request-Method) from such an origin is
// answered 204 with the allowed methods and headers; its other responses
// carry Access-Control-Allow-Origin and the exposed headers. Requests from
// any other origin, or without one, get no CORS headers at all.
func (s *Server) withCORS(c *gin.Context) {
	allowed, ok := s.corsAllowedOrigin(c.GetHeader("Origin"))
	if !ok {
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", allowed)
	if allowed != anyOrigin {
		h.Add("Vary", "Origin")
	}
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// corsAllowedOrigin returns the Access-Control-Allow-Origin value for a
// request from origin, and false when that origin is not allowed.
func (s *Server) corsAllowedOrigin(origin string) (string, bool) {
	switch {
	case origin == "" || len(s.cfg.CORSOrigins) == 0:
		return "", false
	case s.cfg.CORSOrigins[0] == anyOrigin:
		return anyOrigin, true
	case slices.Contains(s.cfg.CORSOrigins, strings.ToLower(origin)):
		return origin, true
	}
	return "", false
}
