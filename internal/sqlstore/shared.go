package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/auditlog/auditlog"
)

// ErrNoRows is what a Row's Scan returns when the query found no row.
var ErrNoRows = errors.New("sqlstore: no rows")

// Row is one row of a query.
type Row interface{ Scan(dest ...any) error }

// Rows are the rows of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs SQL written with ? placeholders, on a store's read pool or
// in its write transaction.
type Querier interface {
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	Exec(ctx context.Context, query string, args ...any) error
}

// Shared is what both SQL stores implement alike, over their Querier: the
// custom activity types and auditlog.AuthService (users, permission
// groups, API tokens and sessions), each change recorded with the
// activities of the domain in the same transaction.
type Shared struct {
	// Read runs reads on the store's pool.
	Read Querier
	// Catalog holds the built-in types and caches the custom ones.
	Catalog *Catalog
	// Change runs apply in the store's write transaction and records the
	// activities it returns in that transaction: the change commits with
	// its record or not at all.
	Change func(ctx context.Context, apply func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error)) error
	// Now is the store's clock.
	Now func() time.Time
	// Wrap turns a database error into the store's error for op.
	Wrap func(op string, err error) error
	// IsUniqueViolation reports whether err is a unique index refusing a row.
	IsUniqueViolation func(err error) bool
	// ForUpdate ends a query that reads rows a change will write, to lock
	// them where the database knows row locks (" FOR UPDATE"), so that
	// changes through other nodes take turns and each records the values it
	// replaced; "" where writes are serialised anyway.
	ForUpdate func(table string) string
	// BootstrapLock, when set, runs first in Bootstrap's transaction, so
	// that nodes starting together on an empty database take turns.
	BootstrapLock string
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q Querier, scan func(Row) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}
