package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ticketd/ticketd/internal/termtext"
)

// runHealthcheck asks the service listening on this host whether it is alive,
// for container health checks in images without curl. It fails when the
// service does not answer GET /healthz with 200 in time.
func runHealthcheck(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var addr string
	var timeout time.Duration
	cmd := newCommand("healthcheck", "ticketd healthcheck [flags]",
		"Asks the service listening on --addr on this host whether it is alive (GET /healthz):\nexit 0 when it answers 200 in time, else 1. Meant for container health checks.", stderr)
	cmd.String(&addr, "addr", "TICKETD_ADDR", ":9000", "address the service listens on: host:port as serve's --addr takes it, or http://host:port; no host or an unspecified one means this host")
	cmd.Duration(&timeout, "timeout", "TICKETD_HEALTHCHECK_TIMEOUT", 3*time.Second, "how long to wait for the answer")
	if err := cmd.parse(args); err != nil {
		return err
	}
	target, err := healthzURL(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	fmt.Fprintf(stdout, "GET %s: %s\n", target, termtext.Escape(resp.Status))
	return nil
}

// healthzURL returns the URL of GET /healthz of a service on this host
// listening on addr: host:port, as serve's --addr takes it, or the service's
// URL http://host:port. It fails with errUsage on any other form.
func healthzURL(addr string) (string, error) {
	hostPort := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Scheme != "http" || u.Port() == "" || u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("%w: --addr %q: want host:port (as serve's --addr) or http://host:port", errUsage, addr)
		}
		hostPort = u.Host
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", fmt.Errorf("%w: --addr %q: want host:port (as serve's --addr) or http://host:port", errUsage, addr)
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip.Equal(net.IPv4zero):
		host = "127.0.0.1"
	case ip.Equal(net.IPv6unspecified):
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
