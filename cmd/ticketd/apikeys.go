package main

import (
	"fmt"
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

// load returns the configured keys, or nil when access control is off. A
// missing file or a malformed key is a usage error naming it, never echoing a key.
func (a accessConfig) load() (*httpapi.APIKeys, error) {
	var text strings.Builder
	if a.keysFile != "" {
		b, err := os.ReadFile(a.keysFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --api-keys-file: %v", errUsage, err)
		}
		text.Write(b)
		text.WriteByte('\n')
	}
	text.WriteString(strings.ReplaceAll(a.keys, ";", "\n"))
	if strings.TrimSpace(text.String()) == "" {
		return nil, nil
	}
	keys, err := httpapi.ParseAPIKeys(strings.NewReader(text.String()))
	if err != nil {
		return nil, fmt.Errorf("%w: API keys: %v", errUsage, err)
	}
	return keys, nil
}
