package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// shared is the store's custom activity types, users, groups, tokens and
// sessions: the shared SQL implementation, on this database. A change locks the rows it reads, so
// that changes through other nodes take turns and each records the values
// it replaced; nodes that start together take turns at the first admin.
func (db *DB) shared() *sqlstore.Shared {
	return &sqlstore.Shared{
		Read:              pgQuerier{db.pool},
		Catalog:           db.catalog,
		Change:            db.change,
		Now:               db.now,
		Wrap:              storeError,
		IsUniqueViolation: isUniqueViolation,
		ForUpdate:         func(table string) string { return " FOR UPDATE OF " + table },
		BootstrapLock:     fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", bootstrapLock),
	}
}

// change runs apply in the writer's transaction and records the activities
// it returns in that same transaction.
func (db *DB) change(ctx context.Context, apply func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error)) error {
	job := &writeJob{ctx: ctx}
	job.apply = func(ctx context.Context, tx pgx.Tx) error {
		job.activities = nil
		acts, err := apply(ctx, pgQuerier{tx})
		if err != nil || len(acts) == 0 {
			return err
		}
		job.activities, err = sqlstore.Prepare(ctx, acts, db.LookupActivityType)
		return err
	}
	_, err := db.writer.submit(job)
	return err
}

// pgQuerier runs the shared SQL, written with ? placeholders, on the pool
// or a transaction.
type pgQuerier struct {
	q interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	}
}

func (p pgQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return pgRow{p.q.QueryRow(ctx, rebind(query), args...)}
}

func (p pgQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return p.q.Query(ctx, rebind(query), args...)
}

func (p pgQuerier) Exec(ctx context.Context, query string, args ...any) error {
	_, err := p.q.Exec(ctx, rebind(query), args...)
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

// rebind numbers the ? placeholders of query as PostgreSQL's $1, $2, ...
// (the shared SQL holds no ? of its own in literals).
func rebind(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
