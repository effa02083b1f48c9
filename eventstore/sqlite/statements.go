package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds a statementCache: queries whose text varies with
// their arguments (IN lists) are not all kept.
const maxCachedStatements = 256

// statementCache keeps the read pool's prepared statements by query text, so
// the queries that answer requests are parsed once. It is safe for
// concurrent use.
type statementCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// get returns the prepared statement of query, preparing it the first
// time; nil when the cache is full or the query does not prepare (the
// caller then runs it unprepared and meets its error).
func (c *statementCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stmt, ok := c.stmts[query]; ok {
		return stmt
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil
	}
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = stmt
	return stmt
}

// ReadStatement returns the prepared statement of query on the read
// connections, prepared once per store and shared; nil when the store keeps
// no more statements or query does not prepare (run it unprepared then).
// For the queries that answer requests: the log's and the read models'.
func (s *Store) ReadStatement(ctx context.Context, query string) *sql.Stmt {
	return s.readStatements.get(ctx, query)
}

// QueryRead runs query on the read connections, through its prepared
// statement when the store keeps one (see ReadStatement).
func (s *Store) QueryRead(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if stmt := s.ReadStatement(ctx, query); stmt != nil {
		return stmt.QueryContext(ctx, args...)
	}
	return s.readDB.QueryContext(ctx, query, args...)
}
