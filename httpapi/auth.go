package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// Role is what an API key may do.
type Role string

// The roles of ticketd's access control.
const (
	// RoleClerk issues and refunds tickets and reads them.
	RoleClerk Role = "clerk"
	// RoleAuditor reads tickets, the event log and the audit.
	RoleAuditor Role = "auditor"
	// RoleAnalyst reads tickets, the event log and the live stream.
	RoleAnalyst Role = "analyst"
	// RoleManager schedules showings.
	RoleManager Role = "manager"
)

// Who may call what, when access control is on. Routes not listed here
// (service status, health, metrics, documentation) stay open.
var (
	// roles are every role a key may have.
	roles = []Role{RoleClerk, RoleAuditor, RoleAnalyst, RoleManager}
	// anyRole are the roles that read tickets, showings and holds.
	anyRole      = []Role{RoleClerk, RoleAuditor, RoleAnalyst}
	managersOnly = []Role{RoleManager}
	clerksOnly   = []Role{RoleClerk}
	logReaders   = []Role{RoleAuditor, RoleAnalyst}
	auditorsOnly = []Role{RoleAuditor}
	analystsOnly = []Role{RoleAnalyst}
)

// APIKeys holds API keys by their SHA-256 digest, never in plain text.
type APIKeys struct {
	entries []apiKey
}

type apiKey struct {
	digest [sha256.Size]byte
	role   Role
}

// ParseAPIKeys reads API keys, one per line as "ROLE KEY" or "ROLE
// sha256:HEX" (the key's SHA-256 in hex, so a file need not hold the key
// itself); blank lines and lines starting with # are skipped. Keys must be at
// least 16 characters. It fails naming the line of an unknown role, a short
// key, a malformed digest or a key already listed under another role, and
// when there are no keys at all.
func ParseAPIKeys(r io.Reader) (*APIKeys, error) {
	keys := &APIKeys{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("API keys line %d: want \"ROLE KEY\" or \"ROLE sha256:HEX\"", n)
		}
		role := Role(fields[0])
		if !slices.Contains(roles, role) {
			return nil, fmt.Errorf("API keys line %d: unknown role %q (want clerk, auditor, analyst or manager)", n, fields[0])
		}
		entry := apiKey{role: role}
		if hexDigest, ok := strings.CutPrefix(fields[1], "sha256:"); ok {
			digest, err := hex.DecodeString(hexDigest)
			if err != nil || len(digest) != sha256.Size {
				return nil, fmt.Errorf("API keys line %d: sha256: must be followed by 64 hex digits", n)
			}
			copy(entry.digest[:], digest)
		} else {
			if len(fields[1]) < 16 {
				return nil, fmt.Errorf("API keys line %d: a key must be at least 16 characters", n)
			}
			entry.digest = sha256.Sum256([]byte(fields[1]))
		}
		if other, ok := keys.roleOfDigest(entry.digest); ok && other != role {
			return nil, fmt.Errorf("API keys line %d: the key is already listed for the %s role; give each role its own key", n, other)
		}
		keys.entries = append(keys.entries, entry)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	if len(keys.entries) == 0 {
		return nil, fmt.Errorf("no API keys given")
	}
	return keys, nil
}

// Count returns how many keys role has.
func (k *APIKeys) Count(role Role) int {
	n := 0
	for _, e := range k.entries {
		if e.role == role {
			n++
		}
	}
	return n
}

// Roles returns every role of ticketd's access control.
func Roles() []Role { return slices.Clone(roles) }

// roleOf returns the role of key.
func (k *APIKeys) roleOf(key string) (Role, bool) {
	return k.roleOfDigest(sha256.Sum256([]byte(key)))
}

// roleOfDigest returns the role of the key with this digest. It compares
// with every stored digest in constant time, so timing tells nothing about
// which keys exist or how much of one matched.
func (k *APIKeys) roleOfDigest(digest [sha256.Size]byte) (Role, bool) {
	var found Role
	for _, e := range k.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			found = e.role
		}
	}
	return found, found != ""
}

// presentedKey returns the API key of a request: a Bearer token in
// Authorization (the scheme matched without regard to case, RFC 9110
// §11.1), else the X-API-Key header.
func presentedKey(c *gin.Context) string {
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return c.GetHeader("X-API-Key")
}

// allow returns the handler that lets only the given roles through when
// access control is on: 401 without a valid key, 403 for a role not allowed.
// With access control off it lets everyone through.
func (s *Server) allow(allowed ...Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.APIKeys == nil {
			return
		}
		role, ok := s.cfg.APIKeys.roleOf(presentedKey(c))
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="ticketd"`)
			writeProblem(c, kindUnauthorized, "Send a valid API key as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\".", nil)
			return
		}
		if !slices.Contains(allowed, role) {
			writeProblem(c, kindForbidden, fmt.Sprintf("The %s role may not call %s %s.", role, c.Request.Method, c.FullPath()), nil)
			return
		}
		c.Set(ctxRole, string(role))
	}
}

// ctxRole is the context key of the caller's role, for the access log.
const ctxRole = "ticketd.role"

var (
	kindUnauthorized = problemKind{http.StatusUnauthorized, "unauthorized", "Authentication required."}
	kindForbidden    = problemKind{http.StatusForbidden, "forbidden", "Not allowed."}
)
