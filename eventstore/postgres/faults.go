package postgres

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// write runs fn on a connection of the pool and returns its error
// classified. A connection whose session is read-only (the database's
// default_transaction_read_only, a standby) is closed rather than returned
// to the pool, so once the database takes writes again a new connection
// finds out: the store recovers without a restart.
func (s *Store) write(ctx context.Context, fn func(Statements) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Release()
	err = fn(conn)
	if isReadOnly(err) {
		conn.Conn().Close(ctx)
	}
	return classify(err)
}

func isReadOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "25006"
}

// classify turns errors that mean "the database cannot take this now" (lost
// or refused connection, server shutting down, disk full, read-only, lock or
// statement timeout, serialization failure) into a CodeUnavailable error
// wrapping the original, as the SQLite store classifies its faults, so
// callers answer 503; one of a read-only database says so.
func classify(err error) error {
	switch {
	case err == nil || domain.ErrorCode(err) == domain.CodeUnavailable || !isStorageFault(err):
		return err
	case isReadOnly(err):
		return eventstore.ReadOnlyStorage(err)
	}
	return &unavailableError{cause: err}
}

// isStorageFault reports whether err is a fault of the database or the
// network rather than of the request.
func isStorageFault(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return faultCode(pe.Code)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// faultCode reports whether SQLSTATE code is a storage fault: connection
// exceptions (08), insufficient resources such as a full disk (53),
// operator intervention such as shutdown or statement timeout (57), system
// errors (58), read-only transaction (25006), lock timeout (55P03),
// serialization failure and deadlock (40001, 40P01).
func faultCode(code string) bool {
	switch code {
	case "25006", "55P03", "40001", "40P01":
		return true
	}
	class := code[:2]
	return class == "08" || class == "53" || class == "57" || class == "58"
}

// unavailableError is a storage fault: a *domain.Error of CodeUnavailable for
// users, with the PostgreSQL cause kept for logs.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "storage unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{domain.Errorf(domain.CodeUnavailable, "Storage is temporarily unavailable; retry later."), e.cause}
}
