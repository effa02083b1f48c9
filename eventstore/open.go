package eventstore

import "errors"

// OpenMode says what opening a writable store does when its database holds
// no ticketd event log yet. Every engine takes it; read-only opens always
// behave as MustExist.
type OpenMode int

const (
	// CreateMissing creates the log: a missing SQLite file with its folder,
	// ticketd's schema and tables in a PostgreSQL database (which itself
	// must exist).
	CreateMissing OpenMode = iota
	// CreateInFolder is CreateMissing, except that a SQLite file is created
	// only inside a folder that exists.
	CreateInFolder
	// MustExist refuses a database without ticketd's event log, failing
	// with an error wrapping ErrNoDatabase, and creates nothing.
	MustExist
)

// ErrNoDatabase reports that a store opened MustExist, or read-only, found
// no ticketd event log where it was pointed: a missing or empty SQLite file,
// a PostgreSQL schema without the log. It is returned wrapped; test with
// errors.Is.
var ErrNoDatabase = errors.New("no ticketd event log")
