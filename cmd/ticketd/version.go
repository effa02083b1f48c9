package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/ticketd/ticketd/internal/service"
)

// version and commit are stamped by scripts/build.sh with
// -ldflags "-X main.version=... -X main.commit=..."; unstamped builds fall
// back to what the Go toolchain recorded.
var (
	version string
	commit  string
)

// currentBuild returns the stamped version and commit; without a stamp the
// version is the module's ("(devel)" from go run) and the commit the VCS
// revision Go recorded (with "-dirty" for modified sources), else "unknown".
func currentBuild() service.BuildInfo {
	b := service.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if b.Version == "" {
		b.Version = "(devel)"
		if ok && info.Main.Version != "" {
			b.Version = info.Main.Version
		}
	}
	if b.Commit == "" && ok {
		b.Commit = vcsRevision(info.Settings)
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// vcsRevision is the vcs.revision setting, suffixed "-dirty" when
// vcs.modified is true; "" when Go recorded none.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	cmd := newCommand("version", "ticketd version", "Prints ticketd's version, the commit it was built from and the Go version that built it.", stderr)
	if err := cmd.parse(args); err != nil {
		return err
	}
	b := currentBuild()
	fmt.Fprintf(stdout, "ticketd %s\ncommit: %s\ngo: %s\n", b.Version, b.Commit, b.GoVersion)
	return nil
}
