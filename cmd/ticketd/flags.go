package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ticketd/ticketd/internal/service"
)

// errUsage marks a command-line mistake, as service.ErrConfig marks an
// invalid setting: the process exits 2.
var errUsage = service.ErrConfig

// command is one subcommand's flag set: every flag has an environment
// variable, which sets its default, and the help lists both.
type command struct {
	fs      *flag.FlagSet
	summary string
	envErrs []error
	hidden  map[string]bool
}

func newCommand(name, synopsis, summary string, stderr io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &command{fs: fs, summary: summary, hidden: map[string]bool{}}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n", synopsis, summary)
		var flags strings.Builder
		fs.VisitAll(func(f *flag.Flag) {
			if !c.hidden[f.Name] {
				flags.WriteString(flagHelp(f))
			}
		})
		if flags.Len() > 0 {
			fmt.Fprintf(fs.Output(), "\nFlags (each also settable by the environment variable shown; a flag wins over its variable):\n%s", flags.String())
		}
	}
	return c
}

// flagHelp is f's entry in the help, as flag.PrintDefaults writes it but
// with every flag's value type: "  --name TYPE\n    \tusage (default D)",
// D quoted for strings only.
func flagHelp(f *flag.Flag) string {
	typ, _ := flag.UnquoteUsage(f)
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		typ = "bool"
	}
	if _, ok := f.Value.(interface{ repeatable() }); ok {
		typ = "string" // each use is one string; its usage says it repeats
	}
	if _, ok := f.Value.(*durationValue); ok {
		typ = "duration"
	}
	def := f.DefValue
	if typ == "string" {
		def = strconv.Quote(def)
	}
	return fmt.Sprintf("  --%s %s\n    \t%s (default %s)\n", f.Name, typ, f.Usage, def)
}

// isSet reports whether flag name was given, on the command line or by its
// environment variable.
func (c *command) isSet(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// hide leaves flag name out of the help: it is for ticketd's own use.
func (c *command) hide(name string) { c.hidden[name] = true }

func (c *command) String(p *string, name, envName, def, usage string) {
	c.fs.StringVar(p, name, def, fmt.Sprintf("%s [$%s]", usage, envName))
	c.setFromEnv(name, envName, "a string")
}

func (c *command) Bool(p *bool, name, envName string, def bool, usage string) {
	c.fs.BoolVar(p, name, def, fmt.Sprintf("%s [$%s]", usage, envName))
	c.setFromEnv(name, envName, "true or false")
}

func (c *command) Duration(p *time.Duration, name, envName string, def time.Duration, usage string) {
	*p = def
	c.fs.Var((*durationValue)(p), name, fmt.Sprintf("%s [$%s]", usage, envName))
	c.setFromEnv(name, envName, "a duration such as 5s or 1m30s")
}

// errNeedsUnit is the error of a duration given as a bare number.
var errNeedsUnit = errors.New("needs a unit")

// durationValue is a time.Duration flag whose error on a bare number says
// which unit is missing, e.g. "5" is refused with "needs a unit, e.g. 5s".
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return fmt.Errorf("%w, e.g. %ss", errNeedsUnit, s)
		}
		return errors.New("not a duration such as 5s or 1m30s")
	}
	*d = durationValue(v)
	return nil
}

func (c *command) Int64(p *int64, name, envName string, def int64, usage string) {
	c.fs.Int64Var(p, name, def, fmt.Sprintf("%s [$%s]", usage, envName))
	c.setFromEnv(name, envName, "an integer")
}

// listFlag is the value of a repeatable flag: each use adds the items of its
// value, several of which may be given separated by commas or white space.
// Items its environment variable gave are replaced by the first use on the
// command line.
type listFlag[T any] struct {
	items   *[]T
	parse   func(string) (T, error)
	fromEnv bool
}

func (l *listFlag[T]) String() string { return "" }

// repeatable marks a flag that may be given more than once.
func (l *listFlag[T]) repeatable() {}

func (l *listFlag[T]) Set(v string) error {
	if l.fromEnv {
		*l.items, l.fromEnv = nil, false
	}
	items := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(items) == 0 {
		return errors.New("no value given")
	}
	for _, item := range items {
		x, err := l.parse(item)
		if err != nil {
			return err
		}
		*l.items = append(*l.items, x)
	}
	return nil
}

// listVar defines a repeatable flag whose items parse reads into *p; its
// variable holds a list of items separated by commas or white space, and
// want says what an item must be.
func listVar[T any](c *command, p *[]T, name, envName, usage, want string, parse func(string) (T, error)) {
	l := &listFlag[T]{items: p, parse: parse}
	c.fs.Var(l, name, fmt.Sprintf("%s [$%s]", usage, envName))
	c.setFromEnv(name, envName, want)
	l.fromEnv = true
}

// setFromEnv applies the variable envName to flag name, keeping the built-in
// default in the help; a malformed value is reported by parse.
func (c *command) setFromEnv(name, envName, want string) {
	v, ok := os.LookupEnv(envName)
	if !ok {
		return
	}
	f := c.fs.Lookup(name)
	def := f.DefValue
	if err := c.fs.Set(name, v); err != nil {
		msg := "must be " + want
		if errors.Is(err, errNeedsUnit) {
			msg = err.Error()
		}
		c.envErrs = append(c.envErrs, fmt.Errorf("$%s=%q: %s", envName, v, msg))
	}
	f.DefValue = def
}

// parse parses args; --help prints the help and returns flag.ErrHelp, any
// other mistake (also in an environment variable) is an errUsage of one line
// and prints nothing.
func (c *command) parse(args []string) error {
	out := c.fs.Output()
	c.fs.SetOutput(io.Discard)
	err := c.fs.Parse(args)
	c.fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		c.fs.Usage()
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %s", errUsage, dashDash(err.Error()))
	}
	if len(c.envErrs) > 0 {
		msgs := make([]string, len(c.envErrs))
		for i, e := range c.envErrs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%w: %s", errUsage, strings.Join(msgs, "; "))
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(c.fs.Args(), " "))
	}
	return nil
}

// flagInMessage finds the flag name in the package flag's errors, which
// write it with one dash ("flag provided but not defined: -x", "invalid
// value "v" for flag -x: ...", "invalid boolean value "v" for -x: ...") or
// none ("invalid boolean flag x: ...").
var flagInMessage = regexp.MustCompile(`^((?:flag provided but not defined|flag needs an argument): |invalid (?:boolean )?value "(?:[^"\\]|\\.)*" for (?:flag )?|invalid boolean flag )-?([^-])`)

// dashDash returns msg, an error of package flag, with its flag written
// with two dashes as the help and the docs write flags.
func dashDash(msg string) string {
	return flagInMessage.ReplaceAllString(msg, "$1--$2")
}
