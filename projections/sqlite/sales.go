package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/sqlite"
	"github.com/ticketd/ticketd/projections"
)

// SalesTable is the sales read model's tables in the file of one store.
type SalesTable struct {
	store *sqlite.Store
	db    *sql.DB // read connections
}

var _ projections.SalesTable = (*SalesTable)(nil)

// Sales returns the sales tables of store as they are, for reading (a
// read-only store) or after CreateSales.
func Sales(store *sqlite.Store) *SalesTable {
	return &SalesTable{store: store, db: store.ReadDB()}
}

// CreateSales creates the sales tables of store when they are missing and
// returns them; it fails on a read-only store.
func CreateSales(ctx context.Context, store *sqlite.Store) (*SalesTable, error) {
	if err := createSchema(ctx, store, salesSchema); err != nil {
		return nil, fmt.Errorf("create sales tables: %w", err)
	}
	return Sales(store), nil
}

func (t *SalesTable) Checkpoint(ctx context.Context) (int64, error) {
	return t.store.Checkpoint(ctx, projections.SalesCheckpoint)
}

const salesSchema = `
CREATE TABLE IF NOT EXISTS sales_totals (
	dimension   TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	issued      INTEGER NOT NULL,
	canceled    INTEGER NOT NULL,
	revenue_krw INTEGER NOT NULL,
	PRIMARY KEY (dimension, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sales_minutes (
	minute   TEXT    PRIMARY KEY,
	issued   INTEGER NOT NULL,
	canceled INTEGER NOT NULL
) WITHOUT ROWID;
`

func (t *SalesTable) Add(ctx context.Context, deltas []projections.SalesDelta, prev, pos int64) error {
	return t.store.UpdateDerived(ctx, func(tx *sql.Tx) error {
		if err := sqlite.MoveCheckpointTx(ctx, tx, projections.SalesCheckpoint, prev, pos); err != nil {
			return err
		}
		return addDeltas(ctx, tx, deltas)
	})
}

// addDeltas adds deltas to the rows they name inside tx, creating missing rows.
func addDeltas(ctx context.Context, tx *sql.Tx, deltas []projections.SalesDelta) error {
	totals, err := tx.PrepareContext(ctx, `INSERT INTO sales_totals (dimension, name, issued, canceled, revenue_krw) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (dimension, name) DO UPDATE SET issued = issued + excluded.issued,
			canceled = canceled + excluded.canceled, revenue_krw = revenue_krw + excluded.revenue_krw`)
	if err != nil {
		return err
	}
	defer totals.Close()
	minutes, err := tx.PrepareContext(ctx, `INSERT INTO sales_minutes (minute, issued, canceled) VALUES (?, ?, ?)
		ON CONFLICT (minute) DO UPDATE SET issued = issued + excluded.issued, canceled = canceled + excluded.canceled`)
	if err != nil {
		return err
	}
	defer minutes.Close()
	for _, d := range deltas {
		for dim, name := range map[projections.Dimension]string{projections.ByTheater: d.Theater, projections.ByMovie: d.Movie} {
			if _, err := totals.ExecContext(ctx, string(dim), name, d.Issued, d.Canceled, d.RevenueKRW); err != nil {
				return fmt.Errorf("add sales of %s %q: %w", dim, name, err)
			}
		}
		if _, err := minutes.ExecContext(ctx, d.Minute, d.Issued, d.Canceled); err != nil {
			return fmt.Errorf("add sales of minute %s: %w", d.Minute, err)
		}
	}
	return nil
}

// salesFoldSQL defines fold_totals and fold_minutes, the sales tables as the
// log up to position ?1 folds to: a ticket counts as issued for the theater
// and movie of its TicketIssued event, as canceled when a TicketRefunded
// event follows, and with its price in the revenue unless it is canceled;
// each event counts in the minute of its occurred_at.
var salesFoldSQL = `WITH
issues AS (SELECT stream_id, data ->> 'theater_name' AS theater, data ->> 'movie_title' AS movie,
		data ->> 'price_krw' AS price FROM events WHERE position <= ?1 AND type = '` + domain.TypeTicketIssued + `'),
refunds AS (SELECT DISTINCT stream_id FROM events WHERE position <= ?1 AND type = '` + domain.TypeTicketRefunded + `'),
sold AS (SELECT issues.*, refunds.stream_id IS NOT NULL AS canceled FROM issues LEFT JOIN refunds USING (stream_id)),
fold_totals AS (
	SELECT '` + string(projections.ByTheater) + `' AS dimension, theater AS name, count(*) AS issued, sum(canceled) AS canceled,
		sum(CASE WHEN canceled THEN 0 ELSE price END) AS revenue_krw FROM sold GROUP BY theater
	UNION ALL
	SELECT '` + string(projections.ByMovie) + `', movie, count(*), sum(canceled), sum(CASE WHEN canceled THEN 0 ELSE price END) FROM sold GROUP BY movie),
fold_minutes AS (
	SELECT substr(occurred_at, 1, 16) AS minute, sum(type = '` + domain.TypeTicketIssued + `') AS issued,
		sum(type = '` + domain.TypeTicketRefunded + `') AS canceled
	FROM events WHERE position <= ?1 AND type IN ('` + domain.TypeTicketIssued + `', '` + domain.TypeTicketRefunded + `')
	GROUP BY 1)
`

func (t *SalesTable) Rebuild(ctx context.Context, prev, until int64) error {
	return t.store.UpdateDerived(ctx, func(tx *sql.Tx) error {
		if err := sqlite.MoveCheckpointTx(ctx, tx, projections.SalesCheckpoint, prev, until); err != nil {
			return err
		}
		return refold(ctx, tx, until)
	})
}

// refold replaces every row inside tx with the fold of the log up to until.
func refold(ctx context.Context, tx *sql.Tx, until int64) error {
	if _, err := tx.ExecContext(ctx, salesSchema); err != nil {
		return err
	}
	for _, stmt := range []string{
		`DELETE FROM sales_totals`,
		`DELETE FROM sales_minutes`,
		salesFoldSQL + `INSERT INTO sales_totals (dimension, name, issued, canceled, revenue_krw) SELECT * FROM fold_totals`,
		salesFoldSQL + `INSERT INTO sales_minutes (minute, issued, canceled) SELECT * FROM fold_minutes`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, until); err != nil {
			return err
		}
	}
	return nil
}

// snapshot runs fn in one read transaction with the sales checkpoint of
// that snapshot, and returns the checkpoint.
func (t *SalesTable) snapshot(ctx context.Context, fn func(tx *sql.Tx, pos int64) error) (int64, error) {
	tx, err := t.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var pos int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE name = ?), 0)`, projections.SalesCheckpoint).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read sales checkpoint: %w", err)
	}
	return pos, fn(tx, pos)
}

func (t *SalesTable) Page(ctx context.Context, by projections.Dimension, limit, offset int) (projections.SalesPage, error) {
	page := projections.SalesPage{Rows: []projections.SalesRow{}}
	var err error
	page.Position, err = t.snapshot(ctx, func(tx *sql.Tx, _ int64) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sales_totals WHERE dimension = ?`, string(by)).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT name, issued, canceled, revenue_krw FROM sales_totals WHERE dimension = ?
			ORDER BY revenue_krw DESC, issued DESC, name LIMIT ? OFFSET ?`, string(by), limit, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r projections.SalesRow
			if err := rows.Scan(&r.Name, &r.Issued, &r.Canceled, &r.RevenueKRW); err != nil {
				return err
			}
			page.Rows = append(page.Rows, r)
		}
		return rows.Err()
	})
	if err != nil {
		return projections.SalesPage{}, fmt.Errorf("read sales by %s: %w", by, err)
	}
	return page, nil
}

func (t *SalesTable) Timeline(ctx context.Context, from, to string) (projections.Timeline, error) {
	var tl projections.Timeline
	var err error
	tl.Position, err = t.snapshot(ctx, func(tx *sql.Tx, _ int64) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(sum(issued), 0), COALESCE(sum(canceled), 0), COALESCE(sum(revenue_krw), 0)
			FROM sales_totals WHERE dimension = ?`, string(projections.ByTheater)).Scan(&tl.Totals.Issued, &tl.Totals.Canceled, &tl.Totals.RevenueKRW); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT minute, issued, canceled FROM sales_minutes WHERE minute BETWEEN ? AND ? ORDER BY minute`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m projections.Minute
			var minute string
			if err := rows.Scan(&minute, &m.Issued, &m.Canceled); err != nil {
				return err
			}
			if m.Start, err = time.Parse(projections.MinuteLayout, minute); err != nil {
				return fmt.Errorf("minute %q: %w", minute, err)
			}
			tl.Minutes = append(tl.Minutes, m)
		}
		return rows.Err()
	})
	if err != nil {
		return projections.Timeline{}, fmt.Errorf("read sales timeline: %w", err)
	}
	return tl, nil
}

// salesDiffSQL lists every row on which the sales tables and the fold of the
// log up to ?1 disagree, as (table key, what the log says, what the table has).
var salesDiffSQL = salesFoldSQL + `
SELECT 'sales_totals ' || COALESCE(f.dimension, t.dimension) || ' ' || quote(COALESCE(f.name, t.name)),
	CASE WHEN f.name IS NULL THEN 'no row' ELSE printf('issued %d, canceled %d, revenue_krw %d', f.issued, f.canceled, f.revenue_krw) END,
	CASE WHEN t.name IS NULL THEN 'no row' ELSE printf('issued %d, canceled %d, revenue_krw %d', t.issued, t.canceled, t.revenue_krw) END
FROM fold_totals f FULL OUTER JOIN sales_totals t ON f.dimension = t.dimension AND f.name = t.name
WHERE f.name IS NULL OR t.name IS NULL OR f.issued != t.issued OR f.canceled != t.canceled OR f.revenue_krw != t.revenue_krw
UNION ALL
SELECT 'sales_minutes ' || COALESCE(f.minute, t.minute),
	CASE WHEN f.minute IS NULL THEN 'no row' ELSE printf('issued %d, canceled %d', f.issued, f.canceled) END,
	CASE WHEN t.minute IS NULL THEN 'no row' ELSE printf('issued %d, canceled %d', t.issued, t.canceled) END
FROM fold_minutes f FULL OUTER JOIN sales_minutes t ON f.minute = t.minute
WHERE f.minute IS NULL OR t.minute IS NULL OR f.issued != t.issued OR f.canceled != t.canceled`

func (t *SalesTable) Verify(ctx context.Context) (projections.SalesReport, error) {
	rep := projections.SalesReport{Problems: eventstore.Problems{List: []eventstore.Problem{}}}
	var err error
	rep.Checkpoint, err = t.snapshot(ctx, func(tx *sql.Tx, pos int64) error {
		rows, err := tx.QueryContext(ctx, salesDiffSQL, pos)
		if isMissingTable(err) && pos == 0 {
			return nil // a database the sales projector never ran on
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, want, got string
			if err := rows.Scan(&key, &want, &got); err != nil {
				return err
			}
			rep.Add(eventstore.Problem{Kind: projections.ProblemSalesDiffers,
				Detail: fmt.Sprintf("%s differs from the fold of the log up to position %d: log says %s, table has %s", key, pos, want, got)})
		}
		return rows.Err()
	})
	if err != nil {
		return rep, fmt.Errorf("verify sales tables: %w", err)
	}
	return rep, nil
}

// isMissingTable reports whether err is SQLite's "no such table".
func isMissingTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}
