// Command ticketd is the event-sourced movie-ticketing service and its tools.
//
//	ticketd [serve] [flags]   run the HTTP service (default)
//	ticketd replay --db PATH  rebuild every read model from the event log
//	ticketd verify --db PATH  audit the hash chain and the read models
//	ticketd export --db PATH  write the log as JSON lines or CSV, or Parquet files
//	ticketd import --db PATH  load an exported log into an empty database
//	ticketd seed --db PATH    fill a database with N tickets (benchmarks)
//	ticketd bench             measure the service against a bare-Gin baseline
//	ticketd tail [--url URL]  follow the event log as JSON lines (SSE or NATS)
//	ticketd healthcheck       exit 0 when the local service answers GET /healthz
//	ticketd version           print the version, commit and Go version
//
// Exit status: 0 on success, 1 on failure, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ticketd/ticketd/internal/termtext"
)

const topUsage = `ticketd: an event-sourced movie-ticketing service.

Usage:
  ticketd [serve] [flags]    run the HTTP service (the default command)
  ticketd replay [flags]     rebuild every read model (tickets table, sales tables) from the event log (service stopped)
  ticketd verify [flags]     check the hash chain, positions, versions and read models (exit 1 on a fault)
  ticketd export [flags]     write the event log to stdout as JSON lines or CSV, or to a folder as Parquet files
  ticketd import [flags]     load an exported log into an empty database
  ticketd seed [flags]       fill a database with N tickets through the append path (benchmarks)
  ticketd bench [flags]      measure the service against a bare-Gin baseline in one run
  ticketd tail [flags]       follow the event log (SSE, or NATS with --nats-url) and print JSON lines
  ticketd healthcheck        exit 0 when the service on this host answers GET /healthz (for containers)
  ticketd version            print the version, the commit and the Go version (also ticketd --version)
  ticketd help [command]     show help for a command; also ticketd <command> --help

Run 'ticketd <command> --help' for the flags of a command.
`

// subcommands maps each command name to its entry point.
var subcommands = map[string]func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error{
	"serve":       runServe,
	"healthcheck": runHealthcheck,
	"replay":      runReplay,
	"verify":      runVerify,
	"export":      runExport,
	"import":      runImport,
	"seed":        runSeed,
	"bench":       runBench,
	"tail":        runTail,
	"version":     runVersion,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !isFlag(args[0]) {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 0 && !isHelp(args[0]) {
			return run(ctx, []string{args[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, topUsage)
		return 0
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(stderr, "ticketd: unknown command %q; run 'ticketd help' for the list\n", name)
		return 2
	}
	err := cmd(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errVerification):
		return 1
	}
	// An error may quote a path, a value or a database's bytes: it is
	// printed with terminal controls escaped, on one line.
	fmt.Fprintf(stderr, "ticketd %s: %s\n", name, termtext.Escape(err.Error()))
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// errVerification marks a check that ran and found problems; the report
// said so already, and the process exits 1.
var errVerification = errors.New("verification failed")

// isFlag reports whether arg is a flag of the default command rather than
// a command name or one of the top-level --help and --version.
func isFlag(arg string) bool {
	return len(arg) > 0 && arg[0] == '-' && !isHelp(arg) && arg != "-version" && arg != "--version"
}

// isHelp reports whether arg asks for the top-level help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}
