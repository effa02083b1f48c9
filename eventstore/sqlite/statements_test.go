package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCachePreparesEachQueryOnceAndStaysBounded holds the cache of the
// read pool's statements: one statement per query text, shared by every
// caller, none beyond maxCachedStatements.
func TestStatementCachePreparesEachQueryOnceAndStaysBounded(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "app.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := &statementCache{db: s.ReadDB()}
	first := c.get(ctx, "SELECT 1")
	if first == nil || c.get(ctx, "SELECT 1") != first {
		t.Fatal("the same query text did not get the same prepared statement")
	}
	var one int
	if err := first.QueryRowContext(ctx).Scan(&one); err != nil || one != 1 {
		t.Fatalf("cached statement answered %d, %v", one, err)
	}
	if c.get(ctx, "SELECT FROM nowhere") != nil {
		t.Fatal("a query that does not prepare was cached")
	}
	for i := 2; i <= maxCachedStatements; i++ {
		if c.get(ctx, fmt.Sprint("SELECT ", i)) == nil {
			t.Fatalf("statement %d not cached", i)
		}
	}
	if c.get(ctx, "SELECT 'one too many'") != nil || len(c.stmts) != maxCachedStatements {
		t.Fatalf("cache grew to %d statements; want at most %d", len(c.stmts), maxCachedStatements)
	}
}
