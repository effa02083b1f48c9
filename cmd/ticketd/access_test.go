package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestAPIKeyConfigurationWithoutKeysOrWithAKeyUnderTwoRolesExits2BeforeListening(t *testing.T) {
	bin := parallelBinaryTest(t)
	digest := sha256.Sum256([]byte(servicetest.ClerkKey))
	tests := []struct {
		name     string
		file     string   // contents of the keys file, when given
		args     []string // besides --addr and --db
		env      []string
		mentions string
	}{
		{name: "empty file", file: "", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "whitespace-only file", file: " \n\t\n", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "file of comments only", file: "# clerk " + servicetest.ClerkKey + "\n", args: []string{"--api-keys-file", "@KEYS@"}, mentions: "--api-keys-file"},
		{name: "file from the environment", file: "\n", env: []string{"TICKETD_API_KEYS_FILE=@KEYS@"}, mentions: "TICKETD_API_KEYS_FILE"},
		{name: "variable of separators only", env: []string{"TICKETD_API_KEYS=;"}, mentions: "TICKETD_API_KEYS"},
		{name: "flag of separators only", args: []string{"--api-keys", " ; ;"}, mentions: "--api-keys"},
		{name: "one key under two roles", env: []string{"TICKETD_API_KEYS=clerk " + servicetest.ClerkKey + ";auditor " + servicetest.ClerkKey}, mentions: "TICKETD_API_KEYS"},
		{name: "a key and its digest under two roles", env: []string{"TICKETD_API_KEYS=clerk " + servicetest.ClerkKey + ";analyst sha256:" + hex.EncodeToString(digest[:])}, mentions: "TICKETD_API_KEYS"},
		{name: "one key in the file and the variable under two roles", file: "clerk " + servicetest.ClerkKey, args: []string{"--api-keys-file", "@KEYS@"}, env: []string{"TICKETD_API_KEYS=auditor " + servicetest.ClerkKey}, mentions: "--api-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keysPath := filepath.Join(dir, "keys.txt")
			if err := os.WriteFile(keysPath, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"serve", "--addr", servicetest.FreeAddr(t), "--db", filepath.Join(dir, "data", "app.db")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "@KEYS@", keysPath))
			}
			// A service that starts instead of refusing is killed after a while.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "TICKETD_LOG_FORMAT=json")
			for _, e := range tt.env {
				cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "@KEYS@", keysPath))
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\nstderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.mentions) {
				t.Fatalf("stderr is not one line naming %s:\n%s", tt.mentions, stderr.String())
			}
			if strings.Contains(stderr.String(), servicetest.ClerkKey) {
				t.Fatalf("stderr echoes the key: %s", stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the service got as far as its database before refusing: %v", err)
			}
		})
	}
}
