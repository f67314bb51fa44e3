package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// RecordActivities validates the activities against the catalogue and
// records them through the group-commit writer. It returns once the
// transaction that holds them is committed.
func (db *DB) RecordActivities(ctx context.Context, activities []auditlog.NewActivity) ([]int64, error) {
	pending, err := sqlstore.Prepare(ctx, activities, db.LookupActivityType)
	if err != nil {
		return nil, err
	}
	return db.writer.submit(&writeJob{ctx: ctx, activities: pending})
}

// activityScan reads rows of sqlstore.ActivityColumns into one Activity, reused
// from row to row.
type activityScan struct {
	a                 auditlog.Activity
	created           int64
	operator, changes string
	extra             []byte
}

func (s *activityScan) dest() []any {
	a := &s.a
	return []any{&a.ID, &s.created, &s.operator, &a.Username, &a.SystemName, &a.DisplayName,
		&a.SubtypeSystemName, &a.SubtypeDisplayName, &s.extra, &a.ObjectID, &a.ObjectType, &a.ObjectName, &s.changes}
}

// finish completes the activity from the columns that need decoding.
func (s *activityScan) finish() error {
	a := &s.a
	a.Operator = auditlog.Operator(s.operator)
	a.Created = time.UnixMicro(s.created).UTC()
	a.Extra = json.RawMessage(s.extra)
	if s.changes == "[]" {
		// Most activities change no column: skip the JSON decoder (its
		// result would be this same empty, non-nil slice).
		a.Changes = []auditlog.Change{}
		return nil
	}
	a.Changes = nil
	if err := json.Unmarshal([]byte(s.changes), &a.Changes); err != nil {
		return fmt.Errorf("activity %d: decode object_column_changes: %w", a.ID, err)
	}
	return nil
}

// FindActivityByID returns one activity.
func (db *DB) FindActivityByID(ctx context.Context, id int64) (*auditlog.Activity, error) {
	var s activityScan
	err := db.pool.QueryRow(ctx, `SELECT `+sqlstore.ActivityColumns+` FROM activities WHERE id = $1`, id).Scan(s.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "activity %d not found", id)
	}
	if err == nil {
		err = s.finish()
	}
	if err != nil {
		return nil, storeError("find activity", err)
	}
	return &s.a, nil
}

// FindActivities returns one page of activities, newest first.
func (db *DB) FindActivities(ctx context.Context, f auditlog.Filter) ([]auditlog.Activity, bool, error) {
	return sqlstore.FindPage(ctx, f, db.StreamActivities)
}

// dialect is PostgreSQL's SQL for the shared list query.
var dialect = sqlstore.Dialect{
	Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
	// An expression of the column matches no index.
	Unindexed: func(column string) string { return "(" + column + " || '')" },
	// The id range is exact, and a second condition on created_us only
	// misleads the planner's estimate of how many rows a page must read.
	RepeatDateBounds: false,
}

// StreamActivities reads the matching activities from one snapshot. A
// filter with dates maps them to ids first, in the same REPEATABLE READ
// transaction as the listing; any other is one statement, which reads
// from one snapshot by itself.
func (db *DB) StreamActivities(ctx context.Context, f auditlog.Filter, fn func(*auditlog.Activity) error) error {
	if f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() {
		return streamActivities(ctx, db.pool, f, sqlstore.IDRange{}, fn)
	}
	return db.readTx(ctx, func(tx pgx.Tx) error {
		ids, ok, err := idRange(ctx, tx, f)
		if err != nil || !ok {
			return err
		}
		return streamActivities(ctx, tx, f, ids, fn)
	})
}

// streamActivities runs the list query of f over the given id range and
// calls fn for each row as it is read.
func streamActivities(ctx context.Context, q querier, f auditlog.Filter, ids sqlstore.IDRange, fn func(*auditlog.Activity) error) error {
	list := sqlstore.ListQuery(f, ids, dialect)
	rows, err := q.Query(ctx, list.SQL, list.Args...)
	if err != nil {
		return storeError("find activities", err)
	}
	defer rows.Close()
	// One Activity for every row: fn must not keep it, and a fresh one per
	// row would be an allocation per row (an export reads millions).
	var s activityScan
	dest := s.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return storeError("find activities", err)
		}
		if err := s.finish(); err != nil {
			return storeError("find activities", err)
		}
		if err := fn(&s.a); err != nil {
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

// idRange turns the filter's date range into the range of ids that can
// match (0 for an open end). It reports false when no activity can match.
func idRange(ctx context.Context, q querier, f auditlog.Filter) (sqlstore.IDRange, bool, error) {
	var r sqlstore.IDRange
	if f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() {
		return r, true, nil
	}
	if !f.CreatedFrom.IsZero() {
		lo, found, err := firstCreatedAtLeast(ctx, q, f.CreatedFrom.UnixMicro())
		if err != nil || !found {
			return r, false, err
		}
		r.Lo = lo
	}
	if !f.CreatedTo.IsZero() {
		after, found, err := firstCreatedAtLeast(ctx, q, f.CreatedTo.UnixMicro()+1)
		if err != nil {
			return r, false, err
		}
		if found {
			if after <= 1 {
				return r, false, nil
			}
			r.Hi = after - 1
		}
	}
	if r.Lo > 0 && r.Hi > 0 && r.Hi < r.Lo {
		return r, false, nil
	}
	return r, true, nil
}

// probesPerRound is how many ids one round of firstCreatedAtLeast reads.
const probesPerRound = 64

// firstCreatedAtLeast returns the smallest id of an activity created at or
// after us (microseconds). created never decreases with id, so it searches
// the primary key: each round reads probesPerRound ids spread over the
// range left and narrows it to the gap between two of them, so a million
// activities take four rounds. No index on created_us is needed.
func firstCreatedAtLeast(ctx context.Context, q querier, us int64) (int64, bool, error) {
	var lo, hi int64
	if err := q.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM activities`).Scan(&lo, &hi); err != nil {
		return 0, false, storeError("find date range", err)
	}
	var found int64 // the smallest id known to be created at or after us
	for lo > 0 && lo <= hi {
		probes, all := spread(lo, hi)
		rows, err := q.Query(ctx, `SELECT id, created_us FROM activities WHERE id = ANY($1) ORDER BY id`, probes)
		if err != nil {
			return 0, false, storeError("find date range", err)
		}
		nextLo, nextHi := lo, hi
		var id, created int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &created}, func() error {
			if created >= us && (found == 0 || id < found) {
				found, nextHi = id, id-1
			} else if created < us && id >= nextLo && (found == 0 || id < found) {
				nextLo = id + 1
			}
			return nil
		}); err != nil {
			return 0, false, storeError("find date range", err)
		}
		if all || (nextLo == lo && nextHi == hi) {
			if !all {
				// No probe exists (ids removed behind the store's back): scan.
				err := q.QueryRow(ctx, `SELECT coalesce(min(id), 0) FROM activities WHERE id BETWEEN $1 AND $2 AND created_us >= $3`, lo, hi, us).Scan(&id)
				if err != nil {
					return 0, false, storeError("find date range", err)
				}
				if id > 0 {
					found = id
				}
			}
			break
		}
		lo, hi = nextLo, nextHi
	}
	return found, found > 0, nil
}

// spread returns up to probesPerRound ids from lo to hi, evenly spaced,
// and whether they are all the ids of the range.
func spread(lo, hi int64) ([]int64, bool) {
	n := hi - lo + 1
	if n <= probesPerRound {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = lo + int64(i)
		}
		return ids, true
	}
	ids := make([]int64, probesPerRound)
	for i := range ids {
		ids[i] = lo + n*int64(i)/probesPerRound
	}
	return ids, false
}

// CountActivitiesOverTime counts the matches of f in each interval of
// bounds, by operator.
func (db *DB) CountActivitiesOverTime(ctx context.Context, f auditlog.Filter, bounds []time.Time) ([]auditlog.OperatorCounts, error) {
	return sqlstore.CountOverTime(ctx, counter{db}, f, bounds, dialect)
}

// counter runs the queries of sqlstore.CountOverTime.
type counter struct{ db *DB }

func (c counter) IDRange(ctx context.Context, f auditlog.Filter) (sqlstore.IDRange, bool, error) {
	return idRange(ctx, c.db.pool, f)
}

func (c counter) FirstIDAtOrAfter(ctx context.Context, t time.Time) (int64, bool, error) {
	return firstCreatedAtLeast(ctx, c.db.pool, t.UnixMicro())
}

func (c counter) Count(ctx context.Context, q sqlstore.Query) (int64, error) {
	var n int64
	if err := c.db.pool.QueryRow(ctx, q.SQL, q.Args...).Scan(&n); err != nil {
		return 0, storeError("count activities", err)
	}
	return n, nil
}

func (c counter) CountByOperator(ctx context.Context, q sqlstore.Query) (auditlog.OperatorCounts, error) {
	var counts auditlog.OperatorCounts
	rows, err := c.db.pool.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return counts, storeError("count activities", err)
	}
	var op string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&op, &n}, func() error {
		counts.Add(auditlog.Operator(op), n)
		return nil
	})
	return counts, storeError("count activities", err)
}
