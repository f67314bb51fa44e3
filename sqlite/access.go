package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/auditlog/auditlog/internal/sqlstore"
)

// shared is everything but writing activities: the shared SQL
// implementation, on this database.
func (db *DB) shared() *sqlstore.Shared {
	return &sqlstore.Shared{
		Dialect:  dialect,
		Read:     sqlQuerier{db.read},
		Snapshot: db.snapshot,
		Catalog:  db.catalog,
		Change:   db.seq.Change,
		Refuse:   db.seq.RefuseWrites,
		Now:      db.now,
	}
}

// dialect is SQLite's SQL, where it differs from PostgreSQL's.
var dialect = sqlstore.Dialect{
	// A unary + makes the column an expression that no index serves.
	Unindexed: func(column string) string { return "+" + column },
	// migration/0004_operator_counts.sql; the activity names' index is in
	// levels of its own (migration/0013_activity_name_levels.sql).
	OperatorIndexes:    []string{"activity_system_name", "object_type"},
	ActivityNameTables: []string{"recent_activity_names", "activity_names"},
	// Writes are serialised by the database's write lock, which each write
	// transaction takes at its start (BEGIN IMMEDIATE).
	ForUpdate: func(string) string { return "" },
	// A JSON array of the values.
	TextIn:            func(column, param string) string { return column + " IN (SELECT value FROM json_each(" + param + "))" },
	TextListArg:       func(values []string) (any, error) { return jsonArray(values) },
	Wrap:              storeError,
	IsUniqueViolation: isUniqueViolation,
	Search:            searchDialect,
}

// snapshot runs fn in a read transaction: SQLite reads from one snapshot
// of the WAL from its first read to its end.
func (db *DB) snapshot(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storeError("begin read", err)
	}
	defer tx.Rollback()
	return fn(sqlQuerier{tx})
}

// sqlQuerier runs the shared SQL on a database/sql pool or transaction:
// SQLite binds its $1, $2, ... in order of first appearance, as the shared
// SQL numbers them.
type sqlQuerier struct {
	q interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
}

func (s sqlQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return sqlRow{s.q.QueryRowContext(ctx, query, args...)}
}

func (s sqlQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (s sqlQuerier) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.q.ExecContext(ctx, query, args...)
	return err
}

type sqlRow struct{ row *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	if err := r.row.Scan(dest...); errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	} else {
		return err
	}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// jsonArray is a JSON array of the values, as text.
func jsonArray[T any](values []T) (string, error) {
	b, err := json.Marshal(values)
	return string(b), err
}
