package service

import (
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugHandler serves net/http/pprof under /debug/pprof/ and expvar at
// /debug/vars. It goes on the --debug-addr listener only: profiles show
// internals and cost CPU, so the public listener never serves them.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}

// startDebug listens on addr and serves debugHandler there until the
// returned server is closed. It fails naming --debug-addr when it cannot
// listen.
func startDebug(addr string, logger *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--debug-addr: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			logger.Error("debug listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	logger.Info("debug listener serving pprof and expvar", "addr", ln.Addr().String())
	return srv, ln, nil
}
