// Package sqlstore is what the two SQL stores (sqlite/ and postgres/) share:
// everything they do alike, written once over one query interface
// (Querier) and told their differences by one Dialect value. It holds
// preparing activities for recording, reading, listing, streaming and
// counting them (activity.go, query.go, count.go), the tree as tiles
// (tree.go), checkpoints, custom activity types, and users, groups, tokens
// and sessions (access.go, session.go). Writing activities is the
// sequencer's (internal/sequencer), which both stores feed.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
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

// Querier runs SQL on a store's read pool or in its write transaction.
// Queries number their parameters as PostgreSQL does, $1, $2, ..., each
// first used after the one before it (SQLite numbers $NNN parameters in
// the order they first appear): placeholders_test.go checks every query.
type Querier interface {
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	Exec(ctx context.Context, query string, args ...any) error
}

// Dialect is how a database's SQL differs from the other's: everything
// else is written once, for both.
type Dialect struct {
	// Unindexed wraps a column so that the planner cannot use its index
	// for the condition, leaving it a filter on rows found otherwise.
	Unindexed func(column string) string
	// IntersectsIndexes says that the planner combines the indexes of two
	// conditions itself (PostgreSQL's bitmap AND), so that a page filtered
	// by two text columns needs neither a narrow column nor the operator
	// its usernames imply (ListQuery).
	IntersectsIndexes bool
	// OperatorIndexes are the text columns with an index on (column,
	// operator), which counts one operator's matches in an id range
	// without reading a row.
	OperatorIndexes []string
	// ActivityNameTables, when set, hold that index for activity names
	// out of the activities table, in levels (internal/sequencer's
	// deferredIndex), newest entries first: tables of
	// (activity_system_name, operator, activity_id).
	ActivityNameTables []string
	// ForUpdate ends a query that reads rows a change will write, to lock
	// them where the database knows row locks (" FOR UPDATE"), so that
	// changes through other nodes take turns and each records the values it
	// replaced; "" where writes are serialised anyway.
	ForUpdate func(table string) string
	// LockHead, when set, is the statement that makes a write transaction
	// the only one to append to the log until it ends; where it is not,
	// the write transaction itself holds such a lock from its start.
	LockHead string
	// BootstrapLock, when set, runs first in Bootstrap's transaction, so
	// that nodes starting together on an empty database take turns.
	BootstrapLock string
	// TextIn is the condition that column is one of a list of values bound
	// as the one parameter param (TextListArg): a query of any number of
	// values is then one statement, prepared the same way whatever their
	// number (SQLite looks each $NNN name up among those before it, so a
	// statement of n parameters costs n² to prepare).
	TextIn func(column, param string) string
	// TextListArg binds values as the one parameter of TextIn.
	TextListArg func(values []string) (any, error)
	// Wrap turns a database error into the store's error for op.
	Wrap func(op string, err error) error
	// IsUniqueViolation reports whether err is a unique index refusing a row.
	IsUniqueViolation func(err error) bool
	// Search is how the store keeps and asks its full-text index.
	Search SearchDialect
}

// Shared is what both SQL stores implement alike, over their Querier: the
// reads of activities and of the tree, checkpoints, custom activity types
// and auditlog.AuthService (users, permission groups, API tokens and
// sessions), each change recorded with the activities of the domain in the
// same transaction.
type Shared struct {
	Dialect
	// Read runs reads on the store's pool.
	Read Querier
	// Snapshot runs fn in a read-only transaction: one snapshot of the
	// store for all its reads.
	Snapshot func(ctx context.Context, fn func(q Querier) error) error
	// Catalog holds the built-in types and caches the custom ones.
	Catalog *Catalog
	// Change runs apply in the store's write transaction and records the
	// activities it returns in that transaction: the change commits with
	// its record or not at all.
	Change func(ctx context.Context, apply func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error)) error
	// Refuse makes the store's writer refuse every later write.
	Refuse func(reason error)
	// Now is the store's clock.
	Now func() time.Time
	// Index is the store's full-text index, which its indexer keeps just
	// behind the writer.
	Index IndexKeeper

	// created remembers creation times read while mapping dates to ids.
	created createdIndex
}

// IndexKeeper keeps a full-text index behind the writer.
type IndexKeeper interface {
	// Through reads the id up to which the index holds every activity.
	Through(ctx context.Context) (int64, error)
	// Await waits until Through is id or more, ctx ends, or a moment
	// (IndexWait) has passed: then a search answers from what is indexed.
	Await(ctx context.Context, id int64) error
}

// IndexWait bounds how long a search waits for the index to hold the
// activities recorded before it.
const IndexWait = 2 * time.Second

// RefuseWrites implements auditlog.TreeService.
func (db *Shared) RefuseWrites(reason error) { db.Refuse(reason) }

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

// MakeReadOnly makes every change of the store fail: it was opened for
// reading only.
func (db *Shared) MakeReadOnly() {
	db.Change = func(context.Context, func(context.Context, Querier) ([]auditlog.NewActivity, error)) error {
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "the store is open for reading only")
	}
	db.Refuse = func(error) {}
}

// CheckMigrated refuses a store, opened for reading only, that has not
// applied every migration in migrations (migration/*.sql).
func CheckMigrated(ctx context.Context, q Querier, migrations fs.FS) error {
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var pending []string
	for _, name := range names {
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n == 0 {
			pending = append(pending, name)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("the store is of an earlier version (%s not applied): start auditlog serve on it once to migrate it", strings.Join(pending, ", "))
	}
	return nil
}
