package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// RecordActivities validates the activities against the catalogue and
// records them through the group-commit writer. It returns once the
// transaction that holds them is committed and fsynced.
func (db *DB) RecordActivities(ctx context.Context, activities []auditlog.NewActivity) ([]int64, error) {
	pending, err := sqlstore.Prepare(ctx, activities, db.LookupActivityType)
	if err != nil {
		return nil, err
	}
	return db.writer.submit(&writeJob{ctx: ctx, activities: pending})
}

type rowScanner interface{ Scan(dest ...any) error }

func scanActivity(row rowScanner) (auditlog.Activity, error) {
	var a auditlog.Activity
	var created int64
	var operator, changes string // plain strings: database/sql assigns them without reflection or a copy
	var extra []byte
	if err := row.Scan(&a.ID, &created, &operator, &a.Username, &a.SystemName, &a.DisplayName,
		&a.SubtypeSystemName, &a.SubtypeDisplayName, &extra, &a.ObjectID, &a.ObjectType, &a.ObjectName, &changes); err != nil {
		return a, err
	}
	a.Operator = auditlog.Operator(operator)
	a.Created = time.UnixMicro(created).UTC()
	a.Extra = json.RawMessage(extra)
	if changes == "[]" {
		// Most activities change no column: skip the JSON decoder (its
		// result would be this same empty, non-nil slice).
		a.Changes = []auditlog.Change{}
		return a, nil
	}
	if err := json.Unmarshal([]byte(changes), &a.Changes); err != nil {
		return a, fmt.Errorf("activity %d: decode object_column_changes: %w", a.ID, err)
	}
	return a, nil
}

// FindActivityByID returns one activity.
func (db *DB) FindActivityByID(ctx context.Context, id int64) (*auditlog.Activity, error) {
	a, err := scanActivity(db.read.QueryRowContext(ctx, `SELECT `+sqlstore.ActivityColumns+` FROM activities WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "activity %d not found", id)
	}
	if err != nil {
		return nil, storeError("find activity", err)
	}
	return &a, nil
}

// FindActivities returns one page of activities, newest first.
func (db *DB) FindActivities(ctx context.Context, f auditlog.Filter) ([]auditlog.Activity, bool, error) {
	return sqlstore.FindPage(ctx, f, db.StreamActivities)
}

// StreamActivities runs one query for f and calls fn for each row as it is
// read. A single SQLite statement reads from one snapshot of the database.
func (db *DB) StreamActivities(ctx context.Context, f auditlog.Filter, fn func(*auditlog.Activity) error) error {
	q, ok, err := db.listQuery(ctx, f)
	if err != nil || !ok {
		return err
	}
	rows, err := db.read.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return storeError("find activities", err)
	}
	defer rows.Close()
	// One Activity for every row: fn must not keep it, and a fresh one per
	// row would be an allocation per row (an export reads millions).
	var a auditlog.Activity
	for rows.Next() {
		if a, err = scanActivity(rows); err != nil {
			return storeError("find activities", err)
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return storeError("find activities", err)
	}
	return nil
}

// dialect is SQLite's SQL for the shared list query.
var dialect = sqlstore.Dialect{
	Placeholder: func(int) string { return "?" },
	// A unary + makes the column an expression that no index serves.
	Unindexed:        func(column string) string { return "+" + column },
	RepeatDateBounds: true,
	// migration/0004_operator_counts.sql
	OperatorIndexes: []string{"activity_system_name", "object_type"},
}

// listQuery builds the SQL for f. It reports false when f can match nothing.
func (db *DB) listQuery(ctx context.Context, f auditlog.Filter) (sqlstore.Query, bool, error) {
	lo, hi, ok, err := db.idRange(ctx, f)
	if err != nil || !ok {
		return sqlstore.Query{}, false, err
	}
	return sqlstore.ListQuery(f, sqlstore.IDRange{Lo: lo, Hi: hi}, dialect), true, nil
}

// idRange turns the filter's date range into the range of ids that can
// match (0 for an open end). It reports false when no activity can match.
func (db *DB) idRange(ctx context.Context, f auditlog.Filter) (lo, hi int64, ok bool, err error) {
	if !f.CreatedFrom.IsZero() {
		err := db.read.QueryRowContext(ctx, `SELECT id FROM activities WHERE created_us >= ? ORDER BY created_us, id LIMIT 1`, f.CreatedFrom.UnixMicro()).Scan(&lo)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, storeError("find date range", err)
		}
	}
	if !f.CreatedTo.IsZero() {
		err := db.read.QueryRowContext(ctx, `SELECT id FROM activities WHERE created_us <= ? ORDER BY created_us DESC, id DESC LIMIT 1`, f.CreatedTo.UnixMicro()).Scan(&hi)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, storeError("find date range", err)
		}
	}
	if lo > 0 && hi > 0 && hi < lo {
		return 0, 0, false, nil
	}
	return lo, hi, true, nil
}

// CountActivitiesOverTime counts the matches of f in each interval of
// bounds, by operator.
func (db *DB) CountActivitiesOverTime(ctx context.Context, f auditlog.Filter, bounds []time.Time) ([]auditlog.OperatorCounts, error) {
	return sqlstore.CountOverTime(ctx, counter{db}, f, bounds, dialect)
}

// counter runs the queries of sqlstore.CountOverTime.
type counter struct{ db *DB }

func (c counter) IDRange(ctx context.Context, f auditlog.Filter) (sqlstore.IDRange, bool, error) {
	lo, hi, ok, err := c.db.idRange(ctx, f)
	return sqlstore.IDRange{Lo: lo, Hi: hi}, ok, err
}

func (c counter) FirstIDAtOrAfter(ctx context.Context, t time.Time) (int64, bool, error) {
	var id int64
	err := c.db.read.QueryRowContext(ctx, `SELECT id FROM activities WHERE created_us >= ? ORDER BY created_us, id LIMIT 1`, t.UnixMicro()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, storeError("find interval bound", err)
	}
	return id, true, nil
}

func (c counter) Count(ctx context.Context, q sqlstore.Query) (int64, error) {
	var n int64
	if err := c.db.read.QueryRowContext(ctx, q.SQL, q.Args...).Scan(&n); err != nil {
		return 0, storeError("count activities", err)
	}
	return n, nil
}

func (c counter) CountByOperator(ctx context.Context, q sqlstore.Query) (auditlog.OperatorCounts, error) {
	var counts auditlog.OperatorCounts
	rows, err := c.db.read.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return counts, storeError("count activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var n int64
		if err := rows.Scan(&op, &n); err != nil {
			return counts, storeError("count activities", err)
		}
		counts.Add(auditlog.Operator(op), n)
	}
	return counts, storeError("count activities", rows.Err())
}
