package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ticketd/ticketd/httpapi"
)

// accessConfig says where API keys come from; with none, access control is off.
type accessConfig struct {
	keysFile string
	keys     string
}

func (a *accessConfig) register(cmd *command) {
	cmd.String(&a.keysFile, "api-keys-file", "TICKETD_API_KEYS_FILE", "", "file of API keys, one \"ROLE KEY\" or \"ROLE sha256:HEX\" a line (roles: clerk, auditor, analyst); turns access control on")
	cmd.String(&a.keys, "api-keys", "TICKETD_API_KEYS", "", "API keys as in --api-keys-file, separated by ';' (prefer the environment variable: flags show in ps); turns access control on")
}

// load returns the configured keys, or nil when access control is off (no
// file and no keys given). A source that is given but holds no key, a
// missing file, a malformed key or one key under two roles is a usage error
// naming the flag and variable, never echoing a key: access control never
// turns itself off.
func (a accessConfig) load() (*httpapi.APIKeys, error) {
	if a.keysFile == "" && a.keys == "" {
		return nil, nil
	}
	var text strings.Builder
	if a.keysFile != "" {
		b, err := os.ReadFile(a.keysFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --api-keys-file ($TICKETD_API_KEYS_FILE): %v", errUsage, err)
		}
		if _, err := httpapi.ParseAPIKeys(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%w: --api-keys-file ($TICKETD_API_KEYS_FILE) %s: %v", errUsage, a.keysFile, err)
		}
		text.Write(b)
		text.WriteByte('\n')
	}
	if a.keys != "" {
		if _, err := httpapi.ParseAPIKeys(strings.NewReader(keysLines(a.keys))); err != nil {
			return nil, fmt.Errorf("%w: --api-keys ($TICKETD_API_KEYS): %v", errUsage, err)
		}
		text.WriteString(keysLines(a.keys))
	}
	keys, err := httpapi.ParseAPIKeys(strings.NewReader(text.String()))
	if err != nil {
		return nil, fmt.Errorf("%w: --api-keys-file and --api-keys together: %v", errUsage, err)
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
