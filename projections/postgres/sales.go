package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
	"github.com/ticketd/ticketd/eventstore/postgres"
	"github.com/ticketd/ticketd/projections"
)

// SalesTable is the sales read model's tables in the schema of one store.
type SalesTable struct{ store *postgres.Store }

var _ projections.SalesTable = (*SalesTable)(nil)

func (t *SalesTable) Checkpoint(ctx context.Context) (int64, error) {
	return t.store.Checkpoint(ctx, projections.SalesCheckpoint)
}

func (t *SalesTable) Add(ctx context.Context, deltas []projections.SalesDelta, prev, pos int64) error {
	return t.store.UpdateDerived(ctx, func(tx pgx.Tx) error {
		if err := moveCheckpoint(ctx, t.store, tx, projections.SalesCheckpoint, prev, pos); err != nil {
			return err
		}
		return addDeltas(ctx, tx, deltas)
	})
}

// addDeltas adds deltas to the rows they name inside tx, creating missing
// rows, in one batch.
func addDeltas(ctx context.Context, tx pgx.Tx, deltas []projections.SalesDelta) error {
	var batch pgx.Batch
	for _, d := range deltas {
		for _, dim := range []struct {
			by   projections.Dimension
			name string
		}{{projections.ByTheater, d.Theater}, {projections.ByMovie, d.Movie}} {
			batch.Queue(`INSERT INTO sales_totals AS t (dimension, name, issued, canceled, revenue_krw) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (dimension, name) DO UPDATE SET issued = t.issued + excluded.issued,
					canceled = t.canceled + excluded.canceled, revenue_krw = t.revenue_krw + excluded.revenue_krw`,
				string(dim.by), dim.name, d.Issued, d.Canceled, d.RevenueKRW)
		}
		batch.Queue(`INSERT INTO sales_minutes AS m (minute, issued, canceled) VALUES ($1, $2, $3)
			ON CONFLICT (minute) DO UPDATE SET issued = m.issued + excluded.issued, canceled = m.canceled + excluded.canceled`,
			d.Minute, d.Issued, d.Canceled)
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("add sales: %w", err)
	}
	return nil
}

// salesFoldSQL defines fold_totals and fold_minutes, the sales tables as the
// log up to position $1 folds to: a ticket counts as issued for the theater
// and movie of its TicketIssued event, as canceled when a TicketRefunded
// event follows, and with its price in the revenue unless it is canceled;
// each event counts in the minute of its occurred_at.
var salesFoldSQL = `WITH
issues AS (SELECT stream_id, data::jsonb ->> 'theater_name' AS theater, data::jsonb ->> 'movie_title' AS movie,
		(data::jsonb ->> 'price_krw')::bigint AS price FROM events WHERE position <= $1 AND type = '` + domain.TypeTicketIssued + `'),
refunds AS (SELECT DISTINCT stream_id FROM events WHERE position <= $1 AND type = '` + domain.TypeTicketRefunded + `'),
sold AS (SELECT issues.*, refunds.stream_id IS NOT NULL AS canceled FROM issues LEFT JOIN refunds USING (stream_id)),
fold_totals AS (
	SELECT '` + string(projections.ByTheater) + `' AS dimension, theater AS name, count(*) AS issued, count(*) FILTER (WHERE canceled) AS canceled,
		COALESCE(sum(price) FILTER (WHERE NOT canceled), 0)::bigint AS revenue_krw FROM sold GROUP BY theater
	UNION ALL
	SELECT '` + string(projections.ByMovie) + `', movie, count(*), count(*) FILTER (WHERE canceled),
		COALESCE(sum(price) FILTER (WHERE NOT canceled), 0)::bigint FROM sold GROUP BY movie),
fold_minutes AS (
	SELECT substr(occurred_at, 1, 16) AS minute, count(*) FILTER (WHERE type = '` + domain.TypeTicketIssued + `') AS issued,
		count(*) FILTER (WHERE type = '` + domain.TypeTicketRefunded + `') AS canceled
	FROM events WHERE position <= $1 AND type IN ('` + domain.TypeTicketIssued + `', '` + domain.TypeTicketRefunded + `')
	GROUP BY 1)
`

func (t *SalesTable) Rebuild(ctx context.Context, prev, until int64) error {
	return t.store.UpdateDerived(ctx, func(tx pgx.Tx) error {
		if err := moveCheckpoint(ctx, t.store, tx, projections.SalesCheckpoint, prev, until); err != nil {
			return err
		}
		for _, stmt := range []string{`DELETE FROM sales_totals`, `DELETE FROM sales_minutes`} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		for _, stmt := range []string{
			salesFoldSQL + `INSERT INTO sales_totals (dimension, name, issued, canceled, revenue_krw) SELECT * FROM fold_totals`,
			salesFoldSQL + `INSERT INTO sales_minutes (minute, issued, canceled) SELECT * FROM fold_minutes`,
		} {
			if _, err := tx.Exec(ctx, stmt, until); err != nil {
				return err
			}
		}
		return nil
	})
}

// snapshot runs fn in one read snapshot with the sales checkpoint of that
// snapshot, and returns the checkpoint.
func (t *SalesTable) snapshot(ctx context.Context, fn func(tx pgx.Tx, pos int64) error) (pos int64, err error) {
	err = t.store.ReadSnapshot(ctx, func(tx pgx.Tx) error {
		if pos, err = readCheckpoint(ctx, tx, projections.SalesCheckpoint); err != nil {
			return err
		}
		return fn(tx, pos)
	})
	return pos, err
}

func (t *SalesTable) Page(ctx context.Context, by projections.Dimension, limit, offset int) (projections.SalesPage, error) {
	page := projections.SalesPage{Rows: []projections.SalesRow{}}
	var err error
	page.Position, err = t.snapshot(ctx, func(tx pgx.Tx, _ int64) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sales_totals WHERE dimension = $1`, string(by)).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, issued, canceled, revenue_krw FROM sales_totals WHERE dimension = $1
			ORDER BY revenue_krw DESC, issued DESC, name LIMIT $2 OFFSET $3`, string(by), limit, offset)
		if err != nil {
			return err
		}
		page.Rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.SalesRow, error) {
			var r projections.SalesRow
			err := row.Scan(&r.Name, &r.Issued, &r.Canceled, &r.RevenueKRW)
			return r, err
		})
		return err
	})
	if err != nil {
		return projections.SalesPage{}, fmt.Errorf("read sales by %s: %w", by, err)
	}
	return page, nil
}

func (t *SalesTable) Timeline(ctx context.Context, from, to string) (projections.Timeline, error) {
	var tl projections.Timeline
	var err error
	tl.Position, err = t.snapshot(ctx, func(tx pgx.Tx, _ int64) error {
		if err := tx.QueryRow(ctx, `SELECT COALESCE(sum(issued), 0)::bigint, COALESCE(sum(canceled), 0)::bigint, COALESCE(sum(revenue_krw), 0)::bigint
			FROM sales_totals WHERE dimension = $1`, string(projections.ByTheater)).Scan(&tl.Totals.Issued, &tl.Totals.Canceled, &tl.Totals.RevenueKRW); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT minute, issued, canceled FROM sales_minutes WHERE minute BETWEEN $1 AND $2 ORDER BY minute`, from, to)
		if err != nil {
			return err
		}
		tl.Minutes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.Minute, error) {
			var m projections.Minute
			var minute string
			if err := row.Scan(&minute, &m.Issued, &m.Canceled); err != nil {
				return m, err
			}
			start, err := time.Parse(projections.MinuteLayout, minute)
			if err != nil {
				return m, fmt.Errorf("minute %q: %w", minute, err)
			}
			m.Start = start
			return m, nil
		})
		return err
	})
	if err != nil {
		return projections.Timeline{}, fmt.Errorf("read sales timeline: %w", err)
	}
	return tl, nil
}

// salesDiffSQL lists every row on which the sales tables and the fold of the
// log up to $1 disagree, as (table key, what the log says, what the table has).
var salesDiffSQL = salesFoldSQL + `
SELECT 'sales_totals ' || COALESCE(f.dimension, t.dimension) || ' ' || quote_literal(COALESCE(f.name, t.name)),
	CASE WHEN f.name IS NULL THEN 'no row' ELSE format('issued %s, canceled %s, revenue_krw %s', f.issued, f.canceled, f.revenue_krw) END,
	CASE WHEN t.name IS NULL THEN 'no row' ELSE format('issued %s, canceled %s, revenue_krw %s', t.issued, t.canceled, t.revenue_krw) END
FROM fold_totals f FULL OUTER JOIN sales_totals t ON f.dimension = t.dimension AND f.name = t.name
WHERE f.name IS NULL OR t.name IS NULL OR f.issued != t.issued OR f.canceled != t.canceled OR f.revenue_krw != t.revenue_krw
UNION ALL
SELECT 'sales_minutes ' || COALESCE(f.minute, t.minute),
	CASE WHEN f.minute IS NULL THEN 'no row' ELSE format('issued %s, canceled %s', f.issued, f.canceled) END,
	CASE WHEN t.minute IS NULL THEN 'no row' ELSE format('issued %s, canceled %s', t.issued, t.canceled) END
FROM fold_minutes f FULL OUTER JOIN sales_minutes t ON f.minute = t.minute
WHERE f.minute IS NULL OR t.minute IS NULL OR f.issued != t.issued OR f.canceled != t.canceled`

func (t *SalesTable) Verify(ctx context.Context) (projections.SalesReport, error) {
	rep := projections.SalesReport{Problems: eventstore.Problems{List: []eventstore.Problem{}}}
	var err error
	rep.Checkpoint, err = t.snapshot(ctx, func(tx pgx.Tx, pos int64) error {
		rows, err := tx.Query(ctx, salesDiffSQL, pos)
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
	if isMissingTable(err) && rep.Checkpoint == 0 {
		return rep, nil // a database the sales projector never ran on
	}
	if err != nil {
		return projections.SalesReport{}, fmt.Errorf("verify sales tables: %w", err)
	}
	return rep, nil
}

// isMissingTable reports whether err is PostgreSQL's undefined_table.
func isMissingTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}
