package eventstore

import (
	"context"
	"database/sql"
)

// CheckWritable starts and commits an empty write transaction, serialized
// with the writer like any derived-state update. It returns nil when the
// database took it: the store is open for writing, no other connection holds
// the write lock and SQLite can begin a write. It does not prove free disk
// space. It waits for a group commit in progress; ctx bounds only the
// transaction itself.
func (s *Store) CheckWritable(ctx context.Context) error {
	return s.UpdateDerived(ctx, func(*sql.Tx) error { return nil })
}
