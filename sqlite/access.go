package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// shared is the store's custom activity types, users, groups, tokens and
// sessions: the shared SQL implementation, on this database. Writes go through the writer, so they
// need no row locks.
func (db *DB) shared() *sqlstore.Shared {
	return &sqlstore.Shared{
		Read:              sqlQuerier{db.read},
		Catalog:           db.catalog,
		Change:            db.change,
		Now:               db.now,
		Wrap:              storeError,
		IsUniqueViolation: isUniqueViolation,
		ForUpdate:         func(string) string { return "" },
	}
}

// change runs apply in the writer's transaction and records the activities
// it returns in that same transaction.
func (db *DB) change(ctx context.Context, apply func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error)) error {
	job := &writeJob{ctx: ctx}
	job.apply = func(ctx context.Context, tx *sql.Tx) error {
		job.activities = nil
		acts, err := apply(ctx, sqlQuerier{tx})
		if err != nil || len(acts) == 0 {
			return err
		}
		job.activities, err = sqlstore.Prepare(ctx, acts, db.LookupActivityType)
		return err
	}
	_, err := db.writer.submit(job)
	return err
}

// sqlQuerier runs the shared SQL on a database/sql pool or transaction.
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
