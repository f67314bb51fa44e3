package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/auditlog/auditlog/internal/sqlstore"
)

// shared is everything but writing activities: the shared SQL
// implementation, on this database.
func (db *DB) shared() *sqlstore.Shared {
	return &sqlstore.Shared{
		Dialect:  dialect,
		Read:     pgQuerier{db.pool},
		Snapshot: db.snapshot,
		Catalog:  db.catalog,
		Change:   db.seq.Change,
		Refuse:   db.seq.RefuseWrites,
		Now:      db.now,
	}
}

// dialect is PostgreSQL's SQL, where it differs from SQLite's. A change
// locks the rows it reads, so that changes through other nodes take turns
// and each records the values it replaced; nodes that start together take
// turns at the first admin; appending to the log takes the tree lock.
var dialect = sqlstore.Dialect{
	// An expression of the column matches no index.
	Unindexed:         func(column string) string { return "(" + column + " || '')" },
	IntersectsIndexes: true,
	// migration/0008_activity_operator_index.sql
	OperatorIndexes:   []string{"activity_system_name"},
	ForUpdate:         func(table string) string { return " FOR UPDATE OF " + table },
	TextIn:            func(column, param string) string { return column + " = ANY(" + param + "::text[])" },
	TextListArg:       func(values []string) (any, error) { return values, nil },
	LockHead:          fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", treeLock),
	BootstrapLock:     fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", bootstrapLock),
	Wrap:              storeError,
	IsUniqueViolation: isUniqueViolation,
	Search:            searchDialect,
}

// snapshot runs fn in a read-only REPEATABLE READ transaction: one
// snapshot for all its reads.
func (db *DB) snapshot(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return storeError("begin read", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(pgQuerier{tx}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgQuerier runs the shared SQL on the pool or a transaction.
type pgQuerier struct {
	q interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	}
}

func (p pgQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return pgRow{p.q.QueryRow(ctx, query, args...)}
}

func (p pgQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return p.q.Query(ctx, query, args...)
}

func (p pgQuerier) Exec(ctx context.Context, query string, args ...any) error {
	_, err := p.q.Exec(ctx, query, args...)
	return err
}

type pgRow struct{ row pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	if err := r.row.Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	} else {
		return err
	}
}
