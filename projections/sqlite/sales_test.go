package sqlite_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	esqlite "github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
	"github.com/ticketd/ticketd/projections/projectiontest"
)

func TestVerifySalesNamesEveryRowThatDiffersFromTheLog(t *testing.T) {
	t.Parallel()
	s, storage := mustOpen(t)
	projectiontest.SellAndRefund(t, s)
	if _, err := projections.Rebuild(context.Background(), s, storage, nil); err != nil {
		t.Fatal(err)
	}
	corrupt(t, s,
		`UPDATE sales_totals SET revenue_krw = revenue_krw + 1 WHERE dimension = 'theater' AND name = '메가박스'`,
		`DELETE FROM sales_totals WHERE dimension = 'movie' AND name = '영화 B'`,
		`INSERT INTO sales_totals VALUES ('movie', '유령', 1, 0, 1000)`,
		`UPDATE sales_minutes SET canceled = canceled + 1`,
	)
	rep := projectiontest.Verify(t, s, storage, projections.SalesCheckpoint)
	var details []string
	for _, p := range rep.List {
		if p.Kind != projections.ProblemSalesDiffers {
			t.Errorf("kind %q", p.Kind)
		}
		details = append(details, p.Detail)
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{"theater '메가박스'", "movie '영화 B'", "table has no row", "movie '유령'", "log says no row", "sales_minutes "} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem mentions %q:\n%s", want, all)
		}
	}
	if rep.Count < 4 {
		t.Errorf("%d problems, want at least 4:\n%s", rep.Count, all)
	}
}

// corrupt runs statements against the read model's tables, as a bug or an
// operator could.
func corrupt(tb testing.TB, s *esqlite.Store, stmts ...string) {
	tb.Helper()
	err := s.UpdateDerived(context.Background(), func(tx *sql.Tx) error {
		for _, stmt := range stmts {
			if _, err := tx.Exec(stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
