package postgres

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// CreateDatabase creates the database name on the server whose URL server
// names (connecting to server's own database) and returns the URL of the new
// database: server's with the database replaced. Errors show no password.
func CreateDatabase(ctx context.Context, server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || !IsURL(server) {
		return "", fmt.Errorf("%s: not a postgres:// or postgresql:// URL", Redact(server))
	}
	if err := adminExec(ctx, server, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s on %s: %w", name, Redact(server), err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops the database name on the server whose URL server
// names, ending the connections still open on it; a database that does not
// exist is no error. Errors show no password.
func DropDatabase(ctx context.Context, server, name string) error {
	if err := adminExec(ctx, server, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s on %s: %w", name, Redact(server), err)
	}
	return nil
}

// adminExec runs sql, a statement no transaction may hold, on a connection
// of its own to the database db names.
func adminExec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return classify(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return classify(err)
}
