package servicetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ticketd/ticketd/internal/service"
)

// ClerkKey, AuditorKey, AnalystKey and ManagerKey are the keys of the access-control tests; the auditor's is configured by digest.
const (
	ClerkKey   = "clerk-key-0123456789abcdef"
	AuditorKey = "auditor-key-0123456789abcdef"
	AnalystKey = "analyst-key-0123456789abcdef"
	ManagerKey = "manager-key-0123456789abcdef"
)

// AccessConfig gives each of the four roles its key.
func AccessConfig() service.AccessConfig {
	digest := sha256.Sum256([]byte(AuditorKey))
	return service.AccessConfig{Keys: fmt.Sprintf("clerk %s; auditor sha256:%s ;analyst %s; manager %s", ClerkKey, hex.EncodeToString(digest[:]), AnalystKey, ManagerKey)}
}
