package service

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ticketd/ticketd/httpapi"
)

// AccessConfig says where API keys come from; with none, access control is off.
type AccessConfig struct {
	KeysFile string // --api-keys-file: one "ROLE KEY" or "ROLE sha256:HEX" a line
	Keys     string // --api-keys: lines of a keys file, separated by ';'
}

// load returns the configured keys, or nil when access control is off (no
// file and no keys given). A source that is given but holds no key, a
// missing file, a malformed key or one key under two roles is a usage error
// naming the flag and variable, never echoing a key: access control never
// turns itself off.
func (a AccessConfig) load() (*httpapi.APIKeys, error) {
	if a.KeysFile == "" && a.Keys == "" {
		return nil, nil
	}
	var text strings.Builder
	if a.KeysFile != "" {
		b, err := os.ReadFile(a.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --api-keys-file ($TICKETD_API_KEYS_FILE): %v", ErrConfig, err)
		}
		if _, err := httpapi.ParseAPIKeys(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%w: --api-keys-file ($TICKETD_API_KEYS_FILE) %s: %v", ErrConfig, a.KeysFile, err)
		}
		text.Write(b)
		text.WriteByte('\n')
	}
	if a.Keys != "" {
		if _, err := httpapi.ParseAPIKeys(strings.NewReader(keysLines(a.Keys))); err != nil {
			return nil, fmt.Errorf("%w: --api-keys ($TICKETD_API_KEYS): %v", ErrConfig, err)
		}
		text.WriteString(keysLines(a.Keys))
	}
	keys, err := httpapi.ParseAPIKeys(strings.NewReader(text.String()))
	if err != nil {
		return nil, fmt.Errorf("%w: --api-keys-file and --api-keys together: %v", ErrConfig, err)
	}
	return keys, nil
}

// keysLines turns the ';'-separated --api-keys into the lines of a keys file.
func keysLines(keys string) string { return strings.ReplaceAll(keys, ";", "\n") }

// logAccessControl writes the one start line saying whether access control
// is on and how many keys each role has.
func logAccessControl(logger *slog.Logger, keys *httpapi.APIKeys) {
	attrs := []any{"enabled", keys != nil}
	for _, role := range httpapi.Roles() {
		n := 0
		if keys != nil {
			n = keys.Count(role)
		}
		attrs = append(attrs, string(role)+"_keys", n)
	}
	state := "access control on"
	if keys == nil {
		state = "access control off: anyone who can reach the port may issue and refund tickets"
	}
	logger.Info(state, attrs...)
}
