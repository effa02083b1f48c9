// Package sqlstore stores the rows of any read model in a SQL database: it
// turns a projections.Schema into tables, a batch of row changes and its
// checkpoint into one transaction, and reads by key, by index and in key
// order. It is the engine-neutral core of projections/sqlite and
// projections/postgres, which each add a Dialect (the transactions, the
// placeholders and types, the checkpoint's compare-and-set and the bulk
// write of their database), as watermill-sql keeps one core and a schema
// and offsets adapter per database.
package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/ticketd/ticketd/projections"
)

// Dialect is what one database adds to the core.
type Dialect interface {
	// Write runs fn in one write transaction of derived state and returns
	// fn's error or the commit's, classified.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in one read-only transaction that sees one state of the
	// database.
	Read(ctx context.Context, fn func(Tx) error) error
	// Single runs fn, which makes one read statement, outside a
	// transaction.
	Single(ctx context.Context, fn func(Tx) error) error
	// Placeholder returns the n-th (from 1) parameter of a statement.
	Placeholder(n int) string
	// In returns the condition that column c has one of values, whose
	// first parameter is the n-th of its statement, and its arguments.
	In(c projections.Column, values []any, n int) (string, []any)
	// ColumnType returns the SQL type of a column of type t (NOT NULL is
	// the core's to add).
	ColumnType(t projections.ColumnType) string
	// TableOptions returns what follows the closing parenthesis of the
	// CREATE TABLE of t.
	TableOptions(t projections.Table) string
	// LockSchema makes the other transactions that prepare tables wait
	// until tx ends.
	LockSchema(ctx context.Context, tx Tx) error
	// TableExists reports whether table name exists.
	TableExists(ctx context.Context, tx Tx, name string) (bool, error)
	// MoveCheckpoint moves checkpoint name from prev to pos inside tx,
	// failing with projections.ErrCheckpointMoved when it is not prev (a
	// missing one is 0), and announces the commit where other stores
	// follow it.
	MoveCheckpoint(ctx context.Context, tx Tx, name string, prev, pos int64) error
	// Checkpoint returns the position stored under name, 0 for none.
	Checkpoint(ctx context.Context, name string) (int64, error)
	// WriteRows writes rows to t inside tx as upsert does with op
	// (Upsert or Add), no two rows with one key.
	WriteRows(ctx context.Context, tx Tx, t projections.Table, op projections.Op, rows []projections.Row) error
}

// Tx runs statements inside one transaction of a Dialect.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows are the rows of one query; Close releases them.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Store is the storage of read models' tables through one Dialect.
type Store struct{ d Dialect }

// New returns the storage of d's database.
func New(d Dialect) *Store { return &Store{d: d} }

var _ projections.Storage = (*Store)(nil)

// Tables returns the tables of s in the store.
func (st *Store) Tables(s projections.Schema) projections.Tables {
	return &tables{d: st.d, s: s}
}

// versions is the table of the versions of the read models' tables.
var versions = projections.Table{Name: "read_models", Key: 1, Columns: []projections.Column{
	{Name: "name", Type: projections.Text}, {Name: "version", Type: projections.Integer},
}}

// tables are the stored tables of one read model.
type tables struct {
	d Dialect
	s projections.Schema
	// created is set once the tables were seen to exist; a Read before
	// then checks.
	created atomic.Bool
}

func (t *tables) Prepare(ctx context.Context) (stored int, err error) {
	err = t.d.Write(ctx, func(tx Tx) error {
		if err := t.d.LockSchema(ctx, tx); err != nil {
			return err
		}
		var recorded bool
		if stored, recorded, err = t.version(ctx, tx); err != nil || recorded && stored == t.s.Version {
			return err
		}
		if err := tx.Exec(ctx, createTable(t.d, versions)); err != nil {
			return err
		}
		if stored != t.s.Version {
			for _, table := range t.s.Tables {
				if err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+table.Name); err != nil {
					return err
				}
			}
			if err := tx.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES (`+t.d.Placeholder(1)+`, 0)
				ON CONFLICT (name) DO UPDATE SET position = 0`, t.s.Name); err != nil {
				return err
			}
			for _, table := range t.s.Tables {
				for _, stmt := range append([]string{createTable(t.d, table)}, createIndexes(table)...) {
					if err := tx.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("create table %s: %w", table.Name, err)
					}
				}
			}
		}
		return tx.Exec(ctx, `INSERT INTO `+versions.Name+` (name, version) VALUES (`+t.d.Placeholder(1)+`, `+t.d.Placeholder(2)+`)
			ON CONFLICT (name) DO UPDATE SET version = excluded.version`, t.s.Name, int64(t.s.Version))
	})
	if err != nil {
		return 0, fmt.Errorf("prepare the tables of %s: %w", t.s.Name, err)
	}
	t.created.Store(true)
	return stored, nil
}

// version returns the version of the stored tables inside tx, and whether
// it is recorded: else it is 1 when they exist (tables from before
// versions were recorded), 0 when not.
func (t *tables) version(ctx context.Context, tx Tx) (v int, recorded bool, err error) {
	if exists, err := t.d.TableExists(ctx, tx, versions.Name); err != nil {
		return 0, false, err
	} else if exists {
		rows, err := tx.Query(ctx, `SELECT version FROM `+versions.Name+` WHERE name = `+t.d.Placeholder(1), t.s.Name)
		if err != nil {
			return 0, false, err
		}
		var stored int64
		recorded = rows.Next()
		if recorded {
			err = rows.Scan(&stored)
		}
		rows.Close()
		if err = firstErr(err, rows.Err()); err != nil || recorded {
			return int(stored), recorded, err
		}
	}
	legacy, err := t.d.TableExists(ctx, tx, t.s.Tables[0].Name)
	if legacy {
		return 1, false, err
	}
	return 0, false, err
}

func (t *tables) Version(ctx context.Context) (int, error) {
	var v int
	err := t.d.Read(ctx, func(tx Tx) error {
		var err error
		v, _, err = t.version(ctx, tx)
		return err
	})
	return v, err
}

func (t *tables) Checkpoint(ctx context.Context) (int64, error) {
	return t.d.Checkpoint(ctx, t.s.Name)
}

func (t *tables) Apply(ctx context.Context, prev, pos int64, changes []projections.Change) error {
	return t.d.Write(ctx, func(tx Tx) error {
		if err := t.d.MoveCheckpoint(ctx, tx, t.s.Name, prev, pos); err != nil {
			return err
		}
		return t.write(ctx, tx, changes)
	})
}

// write makes changes inside tx: the rows of each table and op together.
func (t *tables) write(ctx context.Context, tx Tx, changes []projections.Change) error {
	type group struct {
		table string
		op    projections.Op
	}
	groups := map[group][]projections.Row{}
	var order []group
	for _, c := range changes {
		g := group{c.Table, c.Op}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], c.Row)
	}
	for _, g := range order {
		table, ok := t.s.TableNamed(g.table)
		if !ok {
			return fmt.Errorf("%s has no table %q", t.s.Name, g.table)
		}
		rows := groups[g]
		if err := t.check(table, rows); err != nil {
			return err
		}
		var err error
		if g.op == projections.Delete {
			err = t.delete(ctx, tx, table, rows)
		} else {
			err = t.d.WriteRows(ctx, tx, table, g.op, rows)
		}
		if err != nil {
			return fmt.Errorf("write table %s: %w", table.Name, err)
		}
	}
	return nil
}

// check fails unless every row has a value of its column's type in each
// column of table.
func (t *tables) check(table projections.Table, rows []projections.Row) error {
	for _, r := range rows {
		if len(r) != len(table.Columns) {
			return fmt.Errorf("table %s: a row of %d values for %d columns", table.Name, len(r), len(table.Columns))
		}
		for i, c := range table.Columns {
			var ok bool
			switch c.Type {
			case projections.Integer:
				_, ok = r[i].(int64)
			case projections.Text:
				_, ok = r[i].(string)
			case projections.NullableText:
				_, ok = r[i].(*string)
			}
			if !ok {
				return fmt.Errorf("table %s: column %s holds %T", table.Name, c.Name, r[i])
			}
		}
	}
	return nil
}

func (t *tables) delete(ctx context.Context, tx Tx, table projections.Table, rows []projections.Row) error {
	query := `DELETE FROM ` + table.Name + ` WHERE ` + t.keyCondition(table)
	for _, r := range rows {
		if err := tx.Exec(ctx, query, r[:table.Key]...); err != nil {
			return err
		}
	}
	return nil
}

// keyCondition is the condition that the key of table has the values of
// the first parameters.
func (t *tables) keyCondition(table projections.Table) string {
	conds := make([]string, table.Key)
	for i := range conds {
		conds[i] = table.Columns[i].Name + ` = ` + t.d.Placeholder(i+1)
	}
	return strings.Join(conds, ` AND `)
}

func (t *tables) Reset(ctx context.Context, prev int64) error {
	return t.d.Write(ctx, func(tx Tx) error {
		if err := t.d.MoveCheckpoint(ctx, tx, t.s.Name, prev, 0); err != nil {
			return err
		}
		for _, table := range t.s.Tables {
			if err := tx.Exec(ctx, `DELETE FROM `+table.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tables) Lookup(ctx context.Context, table, column string, values []any) ([]projections.Row, error) {
	if len(values) == 0 {
		return nil, nil // no statement, so no transaction either
	}
	var rows []projections.Row
	err := t.d.Single(ctx, func(tx Tx) error {
		var err error
		rows, err = (&reader{t: t, tx: tx, exists: true}).Lookup(ctx, table, column, values)
		return err
	})
	return rows, err
}

func (t *tables) Read(ctx context.Context, fn func(projections.Reader, int64) error) error {
	return t.d.Read(ctx, func(tx Tx) error {
		r := &reader{t: t, tx: tx, exists: t.created.Load()}
		if !r.exists {
			var err error
			if r.exists, err = t.d.TableExists(ctx, tx, t.s.Tables[0].Name); err != nil {
				return err
			}
			t.created.Store(r.exists)
		}
		var pos int64
		rows, err := tx.Query(ctx, `SELECT position FROM checkpoints WHERE name = `+t.d.Placeholder(1), t.s.Name)
		if err != nil {
			return err
		}
		for rows.Next() {
			err = rows.Scan(&pos)
		}
		rows.Close()
		if err = firstErr(err, rows.Err()); err != nil {
			return fmt.Errorf("read checkpoint %s: %w", t.s.Name, err)
		}
		return fn(r, pos)
	})
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// lookupChunk bounds the values of one lookup statement.
const lookupChunk = 500

// reader reads inside one transaction; exists is unset while the model's
// tables were not created, which then read as empty.
type reader struct {
	t      *tables
	tx     Tx
	exists bool
}

func (r *reader) table(name string) (projections.Table, error) {
	table, ok := r.t.s.TableNamed(name)
	if !ok {
		return table, fmt.Errorf("%s has no table %q", r.t.s.Name, name)
	}
	return table, nil
}

func (r *reader) Lookup(ctx context.Context, name, column string, values []any) ([]projections.Row, error) {
	table, err := r.table(name)
	if err != nil || !r.exists || len(values) == 0 {
		return nil, err
	}
	col := table.Column(column)
	if col < 0 {
		return nil, fmt.Errorf("table %s has no column %q", name, column)
	}
	var out []projections.Row
	for start := 0; start < len(values); start += lookupChunk {
		cond, args := r.t.d.In(table.Columns[col], values[start:min(start+lookupChunk, len(values))], 1)
		rows, err := r.scan(ctx, table, `SELECT `+columnList(table)+` FROM `+name+` WHERE `+cond, args)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

func (r *reader) Query(ctx context.Context, q projections.Query) ([]projections.Row, error) {
	table, err := r.table(q.Table)
	if err != nil || !r.exists {
		return nil, err
	}
	where, args := r.where(q.Where, q.Between)
	var b strings.Builder
	b.WriteString(`SELECT ` + columnList(table) + ` FROM ` + q.Table + where)
	for i, o := range q.OrderBy {
		b.WriteString(map[bool]string{true: ` ORDER BY `, false: `, `}[i == 0] + o.Column)
		if o.Desc {
			b.WriteString(` DESC`)
		}
	}
	if q.Limit > 0 {
		b.WriteString(` LIMIT ` + r.t.d.Placeholder(len(args)+1) + ` OFFSET ` + r.t.d.Placeholder(len(args)+2))
		args = append(args, int64(q.Limit), int64(q.Offset))
	}
	return r.scan(ctx, table, b.String(), args)
}

// where returns the WHERE clause of conditions and its arguments.
func (r *reader) where(eqs []projections.Eq, between *projections.Between) (string, []any) {
	var conds []string
	var args []any
	for _, eq := range eqs {
		args = append(args, eq.Value)
		conds = append(conds, eq.Column+` = `+r.t.d.Placeholder(len(args)))
	}
	if between != nil {
		args = append(args, between.From, between.To)
		conds = append(conds, between.Column+` BETWEEN `+r.t.d.Placeholder(len(args)-1)+` AND `+r.t.d.Placeholder(len(args)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

func (r *reader) Count(ctx context.Context, name string, eqs []projections.Eq) (int64, error) {
	if _, err := r.table(name); err != nil || !r.exists {
		return 0, err
	}
	where, args := r.where(eqs, nil)
	rows, err := r.tx.Query(ctx, `SELECT count(*) FROM `+name+where, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

func (r *reader) Each(ctx context.Context, name string, fn func(projections.Row) error) error {
	table, err := r.table(name)
	if err != nil || !r.exists {
		return err
	}
	keys := make([]string, table.Key)
	for i := range keys {
		keys[i] = table.Columns[i].Name
	}
	rows, err := r.tx.Query(ctx, `SELECT `+columnList(table)+` FROM `+name+` ORDER BY `+strings.Join(keys, `, `))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanRow(rows, table)
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scan runs query and returns its rows, each of table's columns.
func (r *reader) scan(ctx context.Context, table projections.Table, query string, args []any) ([]projections.Row, error) {
	rows, err := r.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []projections.Row
	for rows.Next() {
		row, err := scanRow(rows, table)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// scanRow scans the current row of rows, which has the columns of table.
func scanRow(rows Rows, table projections.Table) (projections.Row, error) {
	dest := make([]any, len(table.Columns))
	for i, c := range table.Columns {
		switch c.Type {
		case projections.Integer:
			dest[i] = new(int64)
		case projections.Text:
			dest[i] = new(string)
		case projections.NullableText:
			dest[i] = new(*string)
		}
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, fmt.Errorf("read a row of %s: %w", table.Name, err)
	}
	row := make(projections.Row, len(dest))
	for i, d := range dest {
		switch d := d.(type) {
		case *int64:
			row[i] = *d
		case *string:
			row[i] = *d
		case **string:
			row[i] = *d
		}
	}
	return row, nil
}

// columnList is the columns of table, comma-separated.
func columnList(table projections.Table) string {
	names := make([]string, len(table.Columns))
	for i, c := range table.Columns {
		names[i] = c.Name
	}
	return strings.Join(names, `, `)
}

// createTable returns the statement that creates table when it is missing.
func createTable(d Dialect, table projections.Table) string {
	var b strings.Builder
	b.WriteString(`CREATE TABLE IF NOT EXISTS ` + table.Name + ` (`)
	keys := make([]string, table.Key)
	for i, c := range table.Columns {
		b.WriteString("\n\t" + c.Name + ` ` + d.ColumnType(c.Type))
		if c.Type != projections.NullableText {
			b.WriteString(` NOT NULL`)
		}
		for _, u := range table.Unique {
			if u == c.Name {
				b.WriteString(` UNIQUE`)
			}
		}
		b.WriteString(`,`)
		if i < table.Key {
			keys[i] = c.Name
		}
	}
	b.WriteString("\n\tPRIMARY KEY (" + strings.Join(keys, `, `) + "))" + d.TableOptions(table))
	return b.String()
}

// createIndexes returns the CREATE INDEX statements of table.
func createIndexes(table projections.Table) []string {
	var stmts []string
	for _, cols := range table.Indexes {
		stmts = append(stmts, `CREATE INDEX IF NOT EXISTS `+table.Name+`_`+strings.Join(cols, `_`)+` ON `+table.Name+` (`+strings.Join(cols, `, `)+`)`)
	}
	return stmts
}

// Upsert returns the statement that writes the rows source yields (every
// column of table, in order) as op does: Upsert replaces a stored row with
// the same key, Add adds the new row's non-key Integer columns to it; both
// keep the stored row's Unique columns.
func Upsert(table projections.Table, op projections.Op, source string) string {
	var sets []string
	for _, c := range table.Columns[table.Key:] {
		if slices.Contains(table.Unique, c.Name) {
			continue
		}
		if op == projections.Add && c.Type == projections.Integer {
			sets = append(sets, c.Name+` = `+table.Name+`.`+c.Name+` + excluded.`+c.Name)
		} else {
			sets = append(sets, c.Name+` = excluded.`+c.Name)
		}
	}
	keys := make([]string, table.Key)
	for i := range keys {
		keys[i] = table.Columns[i].Name
	}
	conflict := ` ON CONFLICT (` + strings.Join(keys, `, `) + `) DO NOTHING`
	if len(sets) > 0 {
		conflict = ` ON CONFLICT (` + strings.Join(keys, `, `) + `) DO UPDATE SET ` + strings.Join(sets, `, `)
	}
	return `INSERT INTO ` + table.Name + ` (` + columnList(table) + `) ` + source + conflict
}
