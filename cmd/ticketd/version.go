package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by scripts/build.sh with
// -ldflags "-X main.version=... -X main.commit=..."; unstamped builds fall
// back to what the Go toolchain recorded.
var (
	version string
	commit  string
)

// buildInfo says which ticketd this is.
type buildInfo struct {
	version, commit, goVersion string
}

// currentBuild returns the stamped version and commit; without a stamp the
// version is the module's ("(devel)" from go run) and the commit the VCS
// revision Go recorded (with "-dirty" for modified sources), else "unknown".
func currentBuild() buildInfo {
	b := buildInfo{version: version, commit: commit, goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if b.version == "" {
		b.version = "(devel)"
		if ok && info.Main.Version != "" {
			b.version = info.Main.Version
		}
	}
	if b.commit == "" && ok {
		b.commit = vcsRevision(info.Settings)
	}
	if b.commit == "" {
		b.commit = "unknown"
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
	fmt.Fprintf(stdout, "ticketd %s\ncommit: %s\ngo: %s\n", b.version, b.commit, b.goVersion)
	return nil
}
