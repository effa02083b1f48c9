package httpapi

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// connKey is the context key of the connection a request came on.
type connKey struct{}

// ConnContext is the http.Server ConnContext to serve the API with: it lets
// handlers reach the request's connection, so that event streams can bound
// its send buffer and, with WrapListener, requests of a connection that
// tried request smuggling are refused. Without it both protections are off.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf returns the connection of a request's context, or nil.
func connOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// WrapListener returns ln with every accepted connection watched for a
// request head that carries both Content-Length and Transfer-Encoding.
// net/http accepts such a request, letting Transfer-Encoding win and
// dropping Content-Length before any handler sees it, so a proxy in front
// that went by Content-Length would read the rest of the body as another
// request (request smuggling, RFC 9112 §6.1). Served with ConnContext, the
// API answers such a connection 400 and closes it.
func WrapListener(ln net.Listener) net.Listener { return guardedListener{ln} }

type guardedListener struct{ net.Listener }

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: c}, nil
}

// maxWatchedLine is how much of each line a guardedConn keeps: enough for
// the header names it looks for.
const maxWatchedLine = 32

// guardedConn is a net.Conn that scans the bytes read from it line by line.
// A run of non-empty lines (a request head, or body text, which can only
// make its own sender look suspect) that names both Content-Length and
// Transfer-Encoding marks the connection ambiguous.
type guardedConn struct {
	net.Conn
	ambiguous atomic.Bool

	mu                     sync.Mutex // guards the scan state below
	line                   []byte     // start of the current line
	sawLength, sawEncoding bool       // in the current run of lines
}

func (g *guardedConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	g.scan(p[:n])
	return n, err
}

// SetWriteBuffer sets the send buffer of the underlying connection, when it
// has one.
func (g *guardedConn) SetWriteBuffer(bytes int) error {
	if c, ok := g.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return c.SetWriteBuffer(bytes)
	}
	return nil
}

func (g *guardedConn) scan(p []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n')
		chunk := p
		if end >= 0 {
			chunk = p[:end]
		}
		if room := maxWatchedLine - len(g.line); room > 0 {
			g.line = append(g.line, chunk[:min(room, len(chunk))]...)
		}
		if end < 0 {
			return
		}
		g.endLine()
		p = p[end+1:]
	}
}

var (
	prefixContentLength    = []byte("content-length:")
	prefixTransferEncoding = []byte("transfer-encoding:")
)

func (g *guardedConn) endLine() {
	line := bytes.TrimSuffix(g.line, []byte("\r"))
	switch {
	case len(line) == 0:
		if g.sawLength && g.sawEncoding {
			g.ambiguous.Store(true)
		}
		g.sawLength, g.sawEncoding = false, false
	case hasPrefixFold(line, prefixContentLength):
		g.sawLength = true
	case hasPrefixFold(line, prefixTransferEncoding):
		g.sawEncoding = true
	}
	g.line = g.line[:0]
}

func hasPrefixFold(s, prefix []byte) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], prefix)
}

// ambiguousConn reports whether the request's connection carried a request
// head with both Content-Length and Transfer-Encoding.
func ambiguousConn(ctx context.Context) bool {
	g, ok := connOf(ctx).(*guardedConn)
	return ok && g.ambiguous.Load()
}
