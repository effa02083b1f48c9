package httpapi

import (
	"context"
	"net"
)

// connKey is the context key of the connection a request came on.
type connKey struct{}

// ConnContext is the http.Server ConnContext to serve the API with: it lets
// handlers reach the request's connection, so that event streams can bound
// its send buffer and requests of a connection that tried request smuggling
// are refused (with WrapListener). Without it both protections are off.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf returns the connection of a request's context, or nil.
func connOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}
