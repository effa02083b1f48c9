package postgres_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/eventstore/storetest"
)

// versionOneDatabase returns a fresh database at schema version 1, as a
// ticketd before migration 0002 left it, with one ticket's issue appended
// by version 1's ticketd_append under idempotency key "k1" and one append
// that version 1 refused (a version conflict). It returns the ticket's
// stream.
func versionOneDatabase(t *testing.T) (db, stream string) {
	t.Helper()
	sql, err := os.ReadFile("migrations/0001_event_log.sql")
	if err != nil {
		t.Fatal(err)
	}
	db = freshDatabase(t)
	execOn(t, db, `CREATE TABLE ticketd_schema_version (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	execOn(t, db, string(sql))
	execOn(t, db, `INSERT INTO ticketd_schema_version (version, name) VALUES (1, '0001_event_log.sql')`)
	stream = storetest.NewStream()
	first, second := storetest.Stored(storetest.SampleEvent(15000)), storetest.Stored(storetest.SampleFollowUp())
	execOn(t, db, `SELECT ticketd_append(jsonb_build_array(
		jsonb_build_object('streams', jsonb_build_array(jsonb_build_object('id', $1::text, 'expected', 0)),
			'events', jsonb_build_array(jsonb_build_object('s', 0, 'id', $2::text, 'type', $4::text,
				'data', $5::text)),
			'occurred_at', '2026-12-01T10:00:00.000001Z', 'metadata', '{}',
			'idempotency', jsonb_build_object('key', 'k1', 'endpoint', 'issue', 'fingerprint', 'f', 'status', 201, 'body', '7b7d')),
		jsonb_build_object('streams', jsonb_build_array(jsonb_build_object('id', $1::text, 'expected', 7)),
			'events', jsonb_build_array(jsonb_build_object('s', 0, 'id', $3::text, 'type', $6::text, 'data', $7::text)),
			'occurred_at', '2026-12-01T10:00:00.000001Z', 'metadata', '{}', 'idempotency', null)))`,
		stream, storetest.NewStream(), storetest.NewStream(), first.Type, first.Data, second.Type, second.Data)
	return db, stream
}

// schemaVersions returns the versions recorded in db, in order.
func schemaVersions(t *testing.T, db string) []int {
	t.Helper()
	return column[int](t, db, `SELECT version FROM ticketd_schema_version ORDER BY version`)
}

// allVersions returns the version of every migration file, 1 to the
// latest, in order.
func allVersions(t *testing.T) []int {
	t.Helper()
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	versions := make([]int, len(files))
	for i := range files {
		versions[i] = i + 1
	}
	return versions
}

// A log written by schema version 1 migrates to version 2 once (and to
// every later version), and the
// new append continues it: its streams' versions, its idempotency keys and
// one hash chain across the two versions of ticketd_hash.
func TestMigrationTwoContinuesAVersionOneLog(t *testing.T) {
	t.Parallel()
	db, stream := versionOneDatabase(t)
	ctx := context.Background()
	s := mustOpen(t, db, postgres.Options{Shared: true})
	want := allVersions(t)
	if vs := schemaVersions(t, db); !slices.Equal(vs, want) {
		t.Fatalf("versions %v after migrating, want %v", vs, want)
	}
	if _, err := s.Append(ctx, storetest.RefundRequest(stream, 1)); err != nil {
		t.Fatalf("refund of the version 1 ticket: %v", err)
	}
	if _, err := s.Append(ctx, storetest.RefundRequest(stream, 1)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("second refund at version 1: err = %v, want a conflict", err)
	}
	req := storetest.IssueRequest(storetest.NewStream())
	req.Idempotency = &eventstore.IdempotencyRecord{Key: "k1", Endpoint: "issue", Fingerprint: "f", Status: 201, Body: []byte("{}")}
	var taken *eventstore.KeyTakenError
	if _, err := s.Append(ctx, req); !errors.As(err, &taken) || taken.Existing.Position != 1 {
		t.Fatalf("append under version 1's key: err = %v, want the key taken at position 1", err)
	}
	if _, err := s.Append(ctx, storetest.IssueRequest(storetest.NewStream(), storetest.NewStream())); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, db, postgres.Options{Shared: true})
	if vs := schemaVersions(t, db); !slices.Equal(vs, want) {
		t.Fatalf("versions %v after reopening, want %v: a migration ran twice", vs, want)
	}
	records := storetest.ReadAll(t, s)
	if len(records) != 4 {
		t.Fatalf("%d events, want 4: the issue of version 1, its refund and two issues", len(records))
	}
	storetest.AssertLogInvariants(t, records)
	rep, err := eventstore.VerifyLog(ctx, s, nil)
	if err != nil || rep.Count != 0 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}
