package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
	"github.com/gowebpki/jcs"
)

// RecordActivities validates the activities against the catalogue and
// records them through the group-commit writer. It returns once the
// transaction that holds them is committed and fsynced.
func (db *DB) RecordActivities(ctx context.Context, activities []auditlog.NewActivity) ([]int64, error) {
	pending, err := db.prepareActivities(ctx, activities)
	if err != nil {
		return nil, err
	}
	return db.writer.submit(&writeJob{ctx: ctx, activities: pending})
}

// prepareActivities checks each activity and resolves its catalogue names.
func (db *DB) prepareActivities(ctx context.Context, activities []auditlog.NewActivity) ([]pendingActivity, error) {
	if len(activities) == 0 {
		return nil, auditlog.FieldErrorf("activities", "at least one activity is required")
	}
	if len(activities) > auditlog.MaxBatch {
		return nil, auditlog.FieldErrorf("activities", "%d activities in one request; the limit is %d", len(activities), auditlog.MaxBatch)
	}
	pending := make([]pendingActivity, len(activities))
	for i, a := range activities {
		if err := a.Normalize(i, jcs.Transform); err != nil {
			return nil, err
		}
		t, err := db.activityType(ctx, a.SystemName)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, auditlog.ValidationError(i, "activity_system_name", "unknown activity type %q; GET /api/v1/activity-types lists them", a.SystemName)
		}
		p := pendingActivity{NewActivity: a, DisplayName: t.DisplayName}
		if a.SubtypeSystemName != "" {
			s, ok := t.Subtype(a.SubtypeSystemName)
			if !ok {
				return nil, auditlog.ValidationError(i, "activity_subtype_system_name", "activity type %s has no subtype %q", t.SystemName, a.SubtypeSystemName)
			}
			p.SubtypeDisplayName = s.DisplayName
		}
		changes := a.Changes
		if changes == nil {
			changes = []auditlog.Change{}
		}
		b, err := json.Marshal(changes)
		if err != nil {
			return nil, err
		}
		p.ChangesJSON = string(b)
		// The leaf's canonical form (RFC 8785, the costly part of the leaf
		// hash) is made here, in the request's goroutine and in parallel
		// with other requests, rather than in the single writer: it only
		// fills in the id and the time and hashes.
		if p.leaf, err = tlog.NewLeafTemplate(p.activity()); err != nil {
			return nil, err
		}
		pending[i] = p
	}
	return pending, nil
}

// activity is the activity as it will be stored and read back, but for
// the id and the creation time, which the writer assigns.
func (p *pendingActivity) activity() auditlog.Activity {
	return auditlog.Activity{
		Operator: p.Operator, Username: p.Username,
		DisplayName: p.DisplayName, SystemName: p.SystemName,
		SubtypeDisplayName: p.SubtypeDisplayName, SubtypeSystemName: p.SubtypeSystemName,
		Extra: p.Extra, ObjectID: p.ObjectID, ObjectType: p.ObjectType, ObjectName: p.ObjectName,
		Changes: p.Changes,
	}
}

const activityColumns = `id, created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes`

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
	a, err := scanActivity(db.read.QueryRowContext(ctx, `SELECT `+activityColumns+` FROM activities WHERE id = ?`, id))
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
	page := f
	if page.Limit > 0 {
		page.Limit++ // one more tells whether there is a next page
	}
	out := []auditlog.Activity{}
	err := db.StreamActivities(ctx, page, func(a *auditlog.Activity) error {
		out = append(out, *a)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	more := false
	if f.Limit > 0 && len(out) > f.Limit {
		out, more = out[:f.Limit], true
	}
	return out, more, nil
}

// StreamActivities runs one query for f and calls fn for each row as it is
// read. A single SQLite statement reads from one snapshot of the database.
func (db *DB) StreamActivities(ctx context.Context, f auditlog.Filter, fn func(*auditlog.Activity) error) error {
	q, ok, err := db.listQuery(ctx, f)
	if err != nil || !ok {
		return err
	}
	rows, err := db.read.QueryContext(ctx, q.sql, q.args...)
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

type query struct {
	sql  string
	args []any
}

// listQuery builds the SQL for f. It reports false when f can match nothing.
//
// Every filter has an index ending in the id, so each condition can walk its
// index newest first and stop after one page. Two things keep that true:
//   - A date range becomes an id range (created never decreases with id), so
//     it narrows whichever index the planner picks instead of forcing a sort.
//   - A filter with several values (OR) becomes one branch per value, each
//     reading at most one page from its index, merged by id: "IN (...)"
//     would read every match of every value and sort them.
func (db *DB) listQuery(ctx context.Context, f auditlog.Filter) (query, bool, error) {
	// The first multi-valued indexed filter, if any, is split into branches.
	var split string
	var splitValues []string
	if f.Limit > 0 && len(f.IDs) == 0 && !f.OldestFirst {
		for _, c := range textFilters(f) {
			if len(c.values) > 1 {
				split, splitValues = c.column, c.values
				break
			}
		}
	}
	where, args, ok, err := db.conditions(ctx, f, split, "")
	if err != nil || !ok {
		return query{}, false, err
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}

	limit := ""
	var limitArgs []any
	if f.Limit > 0 {
		limit = " LIMIT ?"
		limitArgs = []any{f.Limit}
	}
	if split == "" {
		order := " ORDER BY id DESC"
		if f.OldestFirst {
			order = " ORDER BY id"
		}
		s := `SELECT ` + activityColumns + ` FROM activities` + whereClause(where) + order + limit
		return query{sql: s, args: append(args, limitArgs...)}, true, nil
	}
	var branches []string
	var all []any
	for _, v := range splitValues {
		branches = append(branches, `SELECT * FROM (SELECT `+activityColumns+` FROM activities`+
			whereClause(append([]string{split + " = ?"}, where...))+` ORDER BY id DESC`+limit+`)`)
		all = append(all, v)
		all = append(all, args...)
		all = append(all, limitArgs...)
	}
	s := `SELECT * FROM (` + strings.Join(branches, " UNION ALL ") + `) ORDER BY id DESC` + limit
	return query{sql: s, args: append(all, limitArgs...)}, true, nil
}

// textFilter is a filtered text column and the values it may hold.
type textFilter struct {
	column string
	values []string
}

// textFilters lists f's text filters, each with its own index.
func textFilters(f auditlog.Filter) []textFilter {
	return []textFilter{
		{"activity_system_name", f.Activities},
		{"username", f.Usernames},
		{"object_type", f.ObjectTypes},
		{"object_id", f.ObjectIDs},
	}
}

// conditions turns f's filters (not its paging) into SQL conditions that
// combine with AND, leaving out the column split, whose values the caller
// handles. When indexed names a text column, the other text columns'
// conditions keep the planner off their indexes. It reports false when f
// can match nothing.
func (db *DB) conditions(ctx context.Context, f auditlog.Filter, split, indexed string) ([]string, []any, bool, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}

	lo, hi, ok, err := db.idRange(ctx, f)
	if err != nil || !ok {
		return nil, nil, false, err
	}
	if lo > 0 {
		add("id >= ?", lo)
	}
	if hi > 0 {
		add("id <= ?", hi)
	}
	if !f.CreatedFrom.IsZero() {
		add("created_us >= ?", f.CreatedFrom.UnixMicro())
	}
	if !f.CreatedTo.IsZero() {
		add("created_us <= ?", f.CreatedTo.UnixMicro())
	}
	if len(f.Operators) == 1 {
		// operator has two values, so its index narrows less than any
		// other filter's. When another filter is given, the unary + keeps
		// the planner off that index: with statistics it would not pick it
		// anyway, but before the first ANALYZE (a store that was empty when
		// the server started) it may, and then walks half the table.
		column := "operator"
		if len(f.Activities)+len(f.Usernames)+len(f.ObjectTypes)+len(f.ObjectIDs)+len(f.IDs) > 0 {
			column = "+operator"
		}
		add(column+" = ?", string(f.Operators[0]))
	}
	if len(f.IDs) > 0 {
		ids := make([]any, len(f.IDs))
		for i, id := range f.IDs {
			ids[i] = id
		}
		add("id IN ("+placeholders(len(ids))+")", ids...)
	}
	for _, c := range textFilters(f) {
		column := c.column
		if indexed != "" && column != indexed {
			column = "+" + column
		}
		switch {
		case c.column == split || len(c.values) == 0:
		case len(c.values) == 1:
			add(column+" = ?", c.values[0])
		default:
			add(column+" IN ("+placeholders(len(c.values))+")", anys(c.values)...)
		}
	}
	return where, args, true, nil
}

// CountActivitiesOverTime counts the matches of f in each interval of
// bounds, by operator. Each bound becomes the first id created at or after
// it (created never decreases with id), so that every count is one walk of
// an index over an id range: the filter's index, or the operator's.
func (db *DB) CountActivitiesOverTime(ctx context.Context, f auditlog.Filter, bounds []time.Time) ([]auditlog.OperatorCounts, error) {
	if len(bounds) < 2 {
		return nil, nil
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i].After(bounds[i-1]) {
			return nil, auditlog.FieldErrorf("bounds", "bound %d (%s) is not after bound %d", i, bounds[i].Format(time.RFC3339Nano), i-1)
		}
	}
	counts := make([]auditlog.OperatorCounts, len(bounds)-1)
	f.BeforeID, f.Limit, f.OldestFirst = 0, 0, false
	// The date range becomes an id range [lo, hi) that narrows each
	// interval's, and only that: without a condition on created_us the
	// operator's index covers the count, and with one id range per query
	// the planner walks just that range.
	lo, hi, ok, err := db.idRange(ctx, f)
	if err != nil || !ok {
		return counts, err
	}
	if hi == 0 {
		hi = math.MaxInt64
	} else {
		hi++
	}
	f.CreatedFrom, f.CreatedTo = time.Time{}, time.Time{}
	indexed, err := db.narrowestIndex(ctx, f, lo, hi)
	if err != nil {
		return nil, err
	}
	// Each bar is counted one of three ways:
	//   - a filter by non-empty usernames selects humans alone (an activity
	//     of the machine has no username): one count, with no operator
	//     condition, which would read every row the username's index finds;
	//   - a filter by an operator, or by no more than dates: one count per
	//     operator, each a walk of the operator's index that reads no row;
	//   - any other filter: one count grouped by operator, which reads each
	//     matching row once for its operator.
	type barQuery struct {
		where []string
		args  []any
		// operator is the one the query counts; "" for a grouped count.
		operator auditlog.Operator
	}
	humansOnly := len(f.Usernames) > 0 && !slices.Contains(f.Usernames, "")
	byOperator := len(f.Operators) == 1 || len(f.Activities)+len(f.ObjectTypes)+len(f.ObjectIDs)+len(f.IDs) == 0
	var queries []barQuery
	for _, op := range []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine, ""} {
		one := f
		switch {
		case humansOnly:
			if op != auditlog.OperatorHuman || len(f.Operators) > 0 && !slices.Contains(f.Operators, op) {
				continue
			}
			one.Operators = nil
		case byOperator:
			if op == "" || len(f.Operators) > 0 && !slices.Contains(f.Operators, op) {
				continue
			}
			one.Operators = []auditlog.Operator{op}
		case op != "":
			continue
		}
		where, args, ok, err := db.conditions(ctx, one, "", indexed)
		if err != nil {
			return nil, err
		}
		if !ok {
			return counts, nil
		}
		queries = append(queries, barQuery{where: where, args: args, operator: op})
	}
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		firstIDs := make([]int64, len(bounds))
		for i, b := range bounds {
			err := tx.QueryRowContext(ctx, `SELECT id FROM activities WHERE created_us >= ? ORDER BY created_us, id LIMIT 1`, b.UnixMicro()).Scan(&firstIDs[i])
			if errors.Is(err, sql.ErrNoRows) {
				firstIDs[i] = math.MaxInt64
			} else if err != nil {
				return storeError("find bucket bound", err)
			}
		}
		for _, q := range queries {
			s := `SELECT operator, count(*) FROM activities` + whereClause(append(q.where, "id >= ?", "id < ?")) + ` GROUP BY operator`
			if q.operator != "" {
				s = `SELECT ?, count(*) FROM activities` + whereClause(append(q.where, "id >= ?", "id < ?"))
			}
			for i := range counts {
				from, to := max(firstIDs[i], lo), min(firstIDs[i+1], hi)
				if from >= to {
					continue
				}
				args := append(q.args[:len(q.args):len(q.args)], from, to)
				if q.operator != "" {
					args = append([]any{string(q.operator)}, args...)
				}
				if err := addCounts(ctx, tx, &counts[i], s, args); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// addCounts adds the (operator, count) rows of the query to c.
func addCounts(ctx context.Context, tx *sql.Tx, c *auditlog.OperatorCounts, query string, args []any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return storeError("count activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var n int64
		if err := rows.Scan(&op, &n); err != nil {
			return storeError("count activities", err)
		}
		if auditlog.Operator(op) == auditlog.OperatorHuman {
			c.Human += n
		} else {
			c.Machine += n
		}
	}
	if err := rows.Err(); err != nil {
		return storeError("count activities", err)
	}
	return nil
}

// narrowestIndex returns the text column of f whose index holds the
// fewest matches in the ids [lo, hi), "" when f filters by at most one. The
// planner's statistics know only how selective a column is on average,
// not for the values given: a count that walks a frequent activity's index
// and reads each row for a rare username's is slower than the other way
// round by the ratio of their matches.
func (db *DB) narrowestIndex(ctx context.Context, f auditlog.Filter, lo, hi int64) (string, error) {
	var given []textFilter
	for _, c := range textFilters(f) {
		if len(c.values) > 0 {
			given = append(given, c)
		}
	}
	if len(given) < 2 {
		return "", nil
	}
	best, fewest := "", int64(math.MaxInt64)
	for _, c := range given {
		var n int64
		q := `SELECT count(*) FROM activities WHERE ` + c.column + ` IN (` + placeholders(len(c.values)) + `) AND id >= ? AND id < ?`
		if err := db.read.QueryRowContext(ctx, q, append(anys(c.values), lo, hi)...).Scan(&n); err != nil {
			return "", storeError("count matches", err)
		}
		if n < fewest {
			best, fewest = c.column, n
		}
	}
	return best, nil
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

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}
