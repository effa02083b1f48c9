package postgres

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketd/ticketd/domain"
)

func TestClassifyMakesStorageFaultsUnavailableAndNothingElse(t *testing.T) {
	faults := map[string]error{
		"disk full":                  &pgconn.PgError{Code: "53100"},
		"out of memory":              &pgconn.PgError{Code: "53200"},
		"admin shutdown":             &pgconn.PgError{Code: "57P01"},
		"crash shutdown":             &pgconn.PgError{Code: "57P02"},
		"cannot connect now":         &pgconn.PgError{Code: "57P03"},
		"statement timeout":          &pgconn.PgError{Code: "57014"},
		"read-only transaction":      &pgconn.PgError{Code: "25006"},
		"lock timeout":               &pgconn.PgError{Code: "55P03"},
		"connection failure":         &pgconn.PgError{Code: "08006"},
		"serialization failure":      &pgconn.PgError{Code: "40001"},
		"I/O error":                  &pgconn.PgError{Code: "58030"},
		"connection lost mid-result": fmt.Errorf("read: %w", io.ErrUnexpectedEOF),
		"closed connection":          fmt.Errorf("query: %w", pgconn.ErrConnClosed),
	}
	for name, err := range faults {
		if got := classify(err); domain.ErrorCode(got) != domain.CodeUnavailable || !errors.Is(got, err) {
			t.Errorf("%s: classify = %v, want unavailable wrapping the cause", name, got)
		}
	}
	for name, err := range map[string]error{
		"unique violation": &pgconn.PgError{Code: "23505"},
		"undefined table":  &pgconn.PgError{Code: "42P01"},
		"plain error":      errors.New("decode: bad"),
	} {
		if got := classify(err); domain.ErrorCode(got) == domain.CodeUnavailable {
			t.Errorf("%s: classified as unavailable", name)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}
