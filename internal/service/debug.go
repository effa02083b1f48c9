package service

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/natsjs"
)

// debugHandler serves net/http/pprof under /debug/pprof/ and expvar at
// /debug/vars. It goes on the --debug-addr listener only: profiles show
// internals and cost CPU, so the public listener never serves them. The
// command line both show (pprof's cmdline, expvar's "cmdline") is args
// with its secrets redacted (see RedactArgs).
func debugHandler(args []string) http.Handler {
	cmdline := RedactArgs(args)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.Join(cmdline, "\x00"))
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvarHandler(cmdline))
	return mux
}

// expvarHandler is expvar.Handler with the value of the "cmdline" variable
// replaced by cmdline.
func expvarHandler(cmdline []string) http.Handler {
	shown, _ := json.Marshal(cmdline) // a []string always encodes
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, "{\n")
		first := true
		expvar.Do(func(kv expvar.KeyValue) {
			if !first {
				fmt.Fprint(w, ",\n")
			}
			first = false
			value := kv.Value.String()
			if kv.Key == "cmdline" {
				value = string(shown)
			}
			fmt.Fprintf(w, "%q: %s", kv.Key, value)
		})
		fmt.Fprint(w, "\n}\n")
	})
}

// secretFlags are the flags of ticketd's commands whose values hold
// secrets, with how each value is shown instead.
var secretFlags = map[string]func(string) string{
	"db":       RedactDB,
	"nats-url": natsjs.Redact,
	"api-keys": redactAll,
	"api-key":  redactAll,
}

// redactAll shows nothing of a secret value.
func redactAll(string) string { return "xxxxx" }

// RedactArgs returns a copy of the command line args with the value of
// every flag that takes a secret redacted, in each form the flag package
// reads (-flag value, --flag value, -flag=value, --flag=value), up to a
// "--" that ends the flags: --api-keys and tail's --api-key entirely, the
// password of a --db URL (as RedactDB does) and of a --nats-url.
func RedactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		arg := out[i]
		if arg == "--" {
			break
		}
		name, ok := strings.CutPrefix(arg, "-")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "-")
		name, value, inline := strings.Cut(name, "=")
		redact := secretFlags[name]
		switch {
		case redact == nil:
		case inline:
			out[i] = arg[:len(arg)-len(value)] + redact(value)
		case i+1 < len(out):
			i++
			out[i] = redact(out[i])
		}
	}
	return out
}

// startDebug listens on addr and serves debugHandler (for the command line
// of this process) there until the returned server is closed. It fails
// naming --debug-addr when it cannot listen.
func startDebug(addr string, logger *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--debug-addr: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: debugHandler(os.Args), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			logger.Error("debug listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	logger.Info("debug listener serving pprof and expvar", "addr", ln.Addr().String())
	return srv, ln, nil
}
