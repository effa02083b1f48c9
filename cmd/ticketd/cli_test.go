package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketd/ticketd/internal/loadgen"
	"github.com/ticketd/ticketd/internal/service"
	"github.com/ticketd/ticketd/internal/service/servicetest"
)

func TestVersionPrintsVersionCommitAndGoVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := runCLI(t, "", args...)
		want := fmt.Sprintf("ticketd (devel)\ncommit: unknown\ngo: %s\n", runtime.Version())
		if code != 0 || out != want {
			t.Errorf("ticketd %v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errOut, want)
		}
	}
	if !regexp.MustCompile("(?m)^```\nticketd \\S+\ncommit: [0-9a-f]{40}\ngo: go\\S+\n```$").MatchString(servicetest.RepoFile(t, "docs/operating.md")) {
		t.Error("docs/operating.md shows no ticketd version output of this form")
	}
}

// TestBuildScriptStampsTheVersion builds the binary as the Dockerfile and CI
// do, with VERSION and COMMIT set, and runs both spellings of the command.
func TestBuildScriptStampsTheVersion(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "ticketd")
	build := exec.Command("../../scripts/build.sh", bin)
	build.Env = append(os.Environ(), "VERSION=v9.8.7-test", "COMMIT=0123456789abcdef")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		want := "ticketd v9.8.7-test\ncommit: 0123456789abcdef\ngo: " + runtime.Version() + "\n"
		if err != nil || string(out) != want {
			t.Errorf("ticketd %s: %v, %q; want %q", arg, err, out, want)
		}
	}
	checkBuildWeight(t, bin)
}

// checkBuildWeight fails when the binary scripts/build.sh built links a
// module kept out for its weight (gRPC and the OTLP exporters that link it,
// the exporters autoexport pulls in, gin's MessagePack codec, Swagger UI's
// source maps, the CloudEvents SDK and its json-iterator, whose reflection
// keeps every exported method of every type in the binary) or grows past
// 35 MiB, stripped.
func checkBuildWeight(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, module := range []string{
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp",
		"google.golang.org/grpc",
		"github.com/cloudevents/sdk-go/v2",
		"github.com/json-iterator/go",
		"go.opentelemetry.io/contrib/exporters/autoexport",
		"github.com/ugorji/go/codec",
		"github.com/swaggo/files",
	} {
		if strings.Contains(string(out), "\t"+module+"\t") {
			t.Errorf("scripts/build.sh's binary links %s", module)
		}
	}
	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 35<<20 {
		t.Errorf("scripts/build.sh's binary is %.1f MiB, over 35 MiB", float64(info.Size())/(1<<20))
	}
}

func TestMetricsCarryTheBuildInfo(t *testing.T) {
	t.Parallel()
	cfg := servicetest.Config(t.TempDir())
	cfg.Build = currentBuild()
	c := servicetest.NewClient(t, servicetest.Start(t, cfg))
	families := c.Scrape()
	b := currentBuild()
	got := servicetest.MetricValue(families, "ticketd_build_info")
	labels := map[string]string{}
	if f := families["ticketd_build_info"]; f != nil {
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
	}
	want := map[string]string{"version": b.Version, "commit": b.Commit, "goversion": runtime.Version()}
	if got != 1 || fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Fatalf("ticketd_build_info = %v with labels %v; want 1 with %v", got, labels, want)
	}
}

// TestServeRefusesABadAddressOrNATSURLBeforeCreatingAnything checks that the
// mistake is reported in one line naming the flag (or its variable) and
// that neither the database nor its folder is created.
func TestServeRefusesABadAddressOrNATSURLBeforeCreatingAnything(t *testing.T) {
	bin := parallelBinaryTest(t)
	for _, tt := range []struct {
		args []string
		env  string
		name string
	}{
		{args: []string{"--addr", "no-port"}, name: "--addr"},
		{args: []string{"--addr", "localhost:http"}, name: "--addr"},
		{args: []string{"--addr", ":65536"}, name: "--addr"},
		{args: []string{"--nats-url", "localhost:4222"}, name: "--nats-url"},
		{args: []string{"--nats-url", "http://localhost:4222"}, name: "--nats-url"},
		{args: []string{"--nats-url", "nats://"}, name: "--nats-url"},
		{args: []string{"--nats-url", "nats://a:4222,b:4222"}, name: "--nats-url"},
		{args: []string{"--nats-url", "nats://a:42x2"}, name: "--nats-url"},
		{env: "TICKETD_ADDR=:port", name: "--addr"},
		{env: "TICKETD_NATS_URL=ws://localhost:4222", name: "--nats-url"},
		{args: []string{"--max-waiting-reads", "0"}, name: "--max-waiting-reads"},
		{env: "TICKETD_MAX_WAITING_READS=2000000", name: "--max-waiting-reads"},
		{env: "TICKETD_MAX_WAITING_READS=many", name: "TICKETD_MAX_WAITING_READS"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		cmd := exec.Command(bin, append([]string{"serve", "--db", filepath.Join(dir, "app.db")}, tt.args...)...)
		if tt.env != "" {
			cmd.Env = append(os.Environ(), tt.env)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.name) {
			t.Errorf("serve %v %s: exit %d (%v), stderr %q; want exit 2 and one line naming %s", tt.args, tt.env, code, err, stderr.String(), tt.name)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("serve %v %s created %s (%v)", tt.args, tt.env, dir, err)
		}
	}
}

// TestHelpShowsEachFlagsTypeAndDefault checks every command's help: each
// flag names its value type, strings have quoted defaults and every other
// type plain ones, and internal flags are not listed.
func TestHelpShowsEachFlagsTypeAndDefault(t *testing.T) {
	t.Parallel()
	entry := regexp.MustCompile(`(?m)^  --(\S+)(.*)\n    \t.*\(default (.*)\)$`)
	for name := range subcommands {
		code, out, errOut := runCLI(t, "", name, "--help")
		help := out + errOut
		entries := entry.FindAllStringSubmatch(help, -1)
		if code != 0 || len(entries) == 0 && name != "version" {
			t.Fatalf("%s --help: exit %d, no flags found in:\n%s", name, code, help)
		}
		for _, e := range entries {
			flagName, typ, def := e[1], strings.TrimSpace(e[2]), e[3]
			quoted := strings.HasPrefix(def, `"`)
			switch {
			case typ != "string" && typ != "int" && typ != "duration" && typ != "bool":
				t.Errorf("%s --%s shows type %q", name, flagName, typ)
			case (typ == "string") != quoted:
				t.Errorf("%s --%s %s: default %s quoted %v", name, flagName, typ, def, quoted)
			}
		}
	}
	for _, want := range []string{"  --body-limit int\n", "(default 65536)", "  --addr string\n", `(default ":9000")`, "  --consistency-timeout duration\n", "(default 5s)"} {
		if _, out, errOut := runCLI(t, "", "serve", "--help"); !strings.Contains(out+errOut, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	if _, out, errOut := runCLI(t, "", "verify", "--help"); !strings.Contains(out+errOut, "  --json bool\n") || !strings.Contains(out+errOut, "(default false)") {
		t.Errorf("verify --help does not show --json as a bool defaulting to false:\n%s%s", out, errOut)
	}
	if _, out, errOut := runCLI(t, "", "bench", "--help"); strings.Contains(out+errOut, "serve-baseline") {
		t.Errorf("bench --help lists the internal --serve-baseline:\n%s%s", out, errOut)
	}
}

// TestSeedReportsWhatItAdded seeds a database twice: the second report counts
// only its own tickets and events, and its rate is those events over its time.
func TestSeedReportsWhatItAdded(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "seeded.db")
	report := regexp.MustCompile(`^seeded (\d+) tickets \((\d+) events\) in (\S+) \((\d+) events/s appended\)`)
	for range 2 {
		code, out, errOut := runCLI(t, "", "seed", "--db", db, "--tickets", "400", "--refund-every", "4", "--batch", "100")
		m := report.FindStringSubmatch(out)
		if code != 0 || m == nil || m[1] != "400" || m[2] != "500" {
			t.Fatalf("seed: exit %d, %q%s; want 400 tickets (500 events)", code, out, errOut)
		}
		took, err := time.ParseDuration(m[3])
		rate, _ := strconv.ParseFloat(m[4], 64)
		// took is rounded to the millisecond, the rate is not.
		if err != nil || rate*(took-time.Millisecond).Seconds() > 501 || rate*(took+time.Millisecond).Seconds() < 499 {
			t.Errorf("seed: %d events/s for 500 events in %s", int(rate), m[3])
		}
	}
}

// TestPGSchemaHelpSaysWhichCommandsCreateIt checks that only the commands
// that create ticketd's tables say --pg-schema is created when missing; the
// read-only ones and replay say it never is.
func TestPGSchemaHelpSaysWhichCommandsCreateIt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		command string
		creates bool
	}{{"serve", true}, {"import", true}, {"seed", true}, {"replay", false}, {"verify", false}, {"export", false}} {
		_, stdout, stderr := runCLI(t, "", c.command, "--help")
		line := regexp.MustCompile(`(?m)^  --pg-schema .*\n.*$`).FindString(stdout + stderr)
		if line == "" {
			t.Errorf("ticketd %s --help has no --pg-schema", c.command)
			continue
		}
		if strings.Contains(line, "created when missing") != c.creates || strings.Contains(line, "never created") == c.creates {
			t.Errorf("ticketd %s --help: %q; the schema is created by serve, import and seed only", c.command, line)
		}
	}
}

// TestEverySubcommandIsListed checks the top-level help and the README's
// command-line list name every subcommand, and the list is the help's, line
// for line.
func TestEverySubcommandIsListed(t *testing.T) {
	t.Parallel()
	_, usage, _ := runCLI(t, "", "help")
	list := regexp.MustCompile("(?s)## Command line\n\n```\n(.*?)```").FindStringSubmatch(readme(t))
	if list == nil {
		t.Fatal("README.md has no command-line list")
	}
	helpList := regexp.MustCompile("(?s)\nUsage:\n(.*?)\n\n").FindStringSubmatch(usage)
	if helpList == nil {
		t.Fatalf("ticketd help has no Usage list:\n%s", usage)
	}
	if want := regexp.MustCompile("(?m)^  ").ReplaceAllString(helpList[1], "") + "\n"; list[1] != want {
		t.Errorf("README's command-line list is\n%s\nticketd help says\n%s", list[1], want)
	}
	for name := range subcommands {
		line := regexp.MustCompile(`(?m)^\s*ticketd (\[)?` + name + `\b`)
		if !line.MatchString(usage) {
			t.Errorf("ticketd help does not list %s", name)
		}
		if !line.MatchString(list[1]) {
			t.Errorf("README's command-line list does not name %s", name)
		}
	}
}

func TestUnknownCommandIsOneLineAndExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"bogus"}, {"help", "bogus"}, {"help", "bogus", "--help"}} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `unknown command "bogus"`) {
			t.Errorf("ticketd %v: exit %d, stdout %q, stderr %q; want exit 2 and one line naming the command", args, code, out, errOut)
		}
	}
}

// TestFlagMistakesNameTheFlagWithTwoDashes also checks that a duration
// without a unit says which unit it lacks, on the command line and in the
// environment.
func TestFlagMistakesNameTheFlagWithTwoDashes(t *testing.T) {
	for _, tt := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"serve", "--consistency-timeout", "5"}, `invalid value "5" for flag --consistency-timeout: needs a unit, e.g. 5s`},
		{"", []string{"serve", "--consistency-timeout", "soon"}, `invalid value "soon" for flag --consistency-timeout: not a duration such as 5s or 1m30s`},
		{"", []string{"serve", "--bogus"}, "flag provided but not defined: --bogus"},
		{"", []string{"serve", "-bogus"}, "flag provided but not defined: --bogus"},
		{"", []string{"serve", "--db"}, "flag needs an argument: --db"},
		{"", []string{"tail", "--max-backoff", "1.5"}, "--max-backoff: needs a unit, e.g. 1.5s"},
		{"TICKETD_HEALTHCHECK_TIMEOUT=3", []string{"healthcheck"}, `$TICKETD_HEALTHCHECK_TIMEOUT="3": needs a unit, e.g. 3s`},
	} {
		if tt.env != "" {
			name, value, _ := strings.Cut(tt.env, "=")
			t.Setenv(name, value)
		}
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s ticketd %v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tt.env, tt.args, code, out, errOut, tt.want)
		}
		if tt.env != "" {
			name, _, _ := strings.Cut(tt.env, "=")
			os.Unsetenv(name)
		}
	}
}

// TestServeFlagsDefaultToTheServiceDefaults keeps `ticketd serve` without
// flags and the service's DefaultConfig one configuration, so tests and
// tools that start the service get what the binary runs with.
func TestServeFlagsDefaultToTheServiceDefaults(t *testing.T) {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TICKETD_") && !strings.HasPrefix(kv, "TICKETD_TEST_") {
			t.Skipf("%s is set and would change a default", strings.SplitN(kv, "=", 2)[0])
		}
	}
	cmd := newCommand("serve", "", "", io.Discard)
	cfg := registerServe(cmd)
	if err := cmd.parse(nil); err != nil {
		t.Fatal(err)
	}
	if want := service.DefaultConfig(); !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("serve's flags default to\n%+v\nthe service's defaults are\n%+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

func TestBenchFailsNamingTheScenariosThatHadErrors(t *testing.T) {
	t.Parallel()
	rep := benchReport{Scenarios: []scenarioResult{
		{Name: "baseline POST /tickets/issue", Result: loadgen.Result{Requests: 10, Errors: 10}},
		{Name: "issue quantity 1", Result: loadgen.Result{Requests: 10}},
	}}
	err := rep.erred()
	if err == nil || !strings.Contains(err.Error(), "baseline POST /tickets/issue (10 errors)") || strings.Contains(err.Error(), "issue quantity 1") {
		t.Fatalf("erred() = %v, want the failing baseline named alone", err)
	}
	rep.Scenarios[0].Result.Errors = 0
	if err := rep.erred(); err != nil {
		t.Fatalf("erred() without errors = %v", err)
	}
}
