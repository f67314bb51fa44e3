package sqlstore

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/auditlog/auditlog"
)

// CountActivitiesOverTime counts the matches of f in each interval of
// bounds, by operator. Each bound becomes the first id created at or after it
// (created never decreases with id), so that every count is one walk of an
// index over an id range: the filter's narrowest index, or the operator's.
func (db *Shared) CountActivitiesOverTime(ctx context.Context, f auditlog.Filter, bounds []time.Time) ([]auditlog.OperatorCounts, error) {
	return db.countOverTime(ctx, f, bounds, 0)
}

// CountActivities counts the matches of f, its AfterID honoured (its
// other paging fields are not).
func (db *Shared) CountActivities(ctx context.Context, f auditlog.Filter) (int64, error) {
	counts, err := db.countOverTime(ctx, f, []time.Time{time.UnixMicro(0), time.UnixMicro(math.MaxInt64)}, f.AfterID)
	if err != nil || len(counts) == 0 {
		return 0, err
	}
	return counts[0].Human + counts[0].Machine, nil
}

// countOverTime counts the matches of f with ids above after in each
// interval of bounds.
func (db *Shared) countOverTime(ctx context.Context, f auditlog.Filter, bounds []time.Time, after int64) ([]auditlog.OperatorCounts, error) {
	d := db.Dialect
	if len(bounds) < 2 {
		return nil, nil
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i].After(bounds[i-1]) {
			return nil, auditlog.FieldErrorf("bounds", "bound %d (%s) is not after bound %d", i, bounds[i].Format(time.RFC3339Nano), i-1)
		}
	}
	counts := make([]auditlog.OperatorCounts, len(bounds)-1)
	f.BeforeID, f.AfterID, f.Limit, f.OldestFirst = 0, 0, 0, false
	if f.Search != nil {
		return db.countSearch(ctx, f, bounds, after, counts)
	}
	// The date range becomes an id range [lo, hi) that narrows each
	// interval's, and only that: without a condition on created_us the
	// operator's index covers the count.
	ids, ok, err := db.idRange(ctx, db.Read, f)
	if err != nil || !ok {
		return counts, err
	}
	lo, hi := max(ids.Lo, after+1), int64(math.MaxInt64)
	if ids.Hi > 0 {
		hi = ids.Hi + 1
	}
	f.CreatedFrom, f.CreatedTo = time.Time{}, time.Time{}
	indexed, err := db.narrowestIndex(ctx, f, lo, hi, 0)
	if err != nil {
		return nil, err
	}
	first, last, err := db.idSpan(ctx, db.Read)
	if err != nil {
		return nil, err
	}
	firstIDs := make([]int64, len(bounds))
	for i, b := range bounds {
		id, found, err := db.firstCreatedAtLeast(ctx, db.Read, b.UnixMicro(), first, last)
		if err != nil {
			return nil, err
		}
		if !found {
			id = math.MaxInt64
		}
		firstIDs[i] = id
	}
	for _, bar := range barQueries(f, d) {
		for i := range counts {
			from, to := max(firstIDs[i], lo), min(firstIDs[i+1], hi)
			if from >= to {
				continue
			}
			q := bar.query(from, to, indexed, d)
			if bar.operator == "" {
				c, err := db.countByOperator(ctx, q)
				if err != nil {
					return nil, err
				}
				counts[i].Human += c.Human
				counts[i].Machine += c.Machine
				continue
			}
			n, err := db.count(ctx, q)
			if err != nil {
				return nil, err
			}
			counts[i].Add(bar.operator, n)
		}
	}
	return counts, nil
}

// barQuery counts the matches of a filter in an id range: of one operator,
// or of each (operator "").
type barQuery struct {
	f        auditlog.Filter
	operator auditlog.Operator
}

// barQueries chooses how each bar is counted:
//   - a filter by non-empty usernames selects humans alone (an activity of
//     the machine has no username): one count, with no operator condition,
//     which would read every row the username's index finds;
//   - a filter by an operator, by no more than dates, or by values of one
//     column with an index on (column, operator): one count per operator,
//     each a walk of an index that reads no row;
//   - any other filter: one count grouped by operator, which reads each
//     matching row once for its operator.
func barQueries(f auditlog.Filter, d Dialect) []barQuery {
	humansOnly := len(f.Usernames) > 0 && !slices.Contains(f.Usernames, "")
	byOperator := len(f.Operators) == 1 || len(f.Activities)+len(f.ObjectTypes)+len(f.ObjectIDs)+len(f.IDs) == 0 ||
		operatorIndexed(f, d) != ""
	wanted := func(op auditlog.Operator) bool { return len(f.Operators) == 0 || slices.Contains(f.Operators, op) }
	var out []barQuery
	switch {
	case humansOnly:
		if wanted(auditlog.OperatorHuman) {
			one := f
			one.Operators = nil
			out = append(out, barQuery{f: one, operator: auditlog.OperatorHuman})
		}
	case byOperator:
		for _, op := range []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine} {
			if wanted(op) {
				one := f
				one.Operators = []auditlog.Operator{op}
				out = append(out, barQuery{f: one, operator: op})
			}
		}
	default:
		out = append(out, barQuery{f: f})
	}
	return out
}

// operatorIndexed returns the one text column that f filters by, when it
// has an index on (column, operator) and f filters by nothing else but
// operator and dates; "" otherwise.
func operatorIndexed(f auditlog.Filter, d Dialect) string {
	var given []string
	for _, c := range textFilters(f) {
		if len(c.values) > 0 {
			given = append(given, c.column)
		}
	}
	if len(given) == 1 && len(f.IDs) == 0 && slices.Contains(d.OperatorIndexes, given[0]) {
		return given[0]
	}
	return ""
}

// query is the count of the bar's matches with from <= id < to. When
// indexed names a text column, the other text columns' conditions keep the
// planner off their indexes.
func (q barQuery) query(from, to int64, indexed string, d Dialect) Query {
	b := &builder{}
	if column := operatorIndexed(q.f, d); q.operator != "" && d.levels(column) != nil {
		// An index in levels counts the operator's matches by itself.
		in := d.indexedIDs(b, column, textValues(q.f, column), q.f.Operators, from, 0, to)
		return Query{SQL: `SELECT count(*) FROM (` + in + `) AS matches`, Args: b.args}
	}
	// A column indexed in levels that the count walks drives it: each of
	// its entries in the range is joined to its row, for the other
	// conditions.
	table, drive := "activities", ""
	var where []string
	for _, c := range textFilters(q.f) {
		if len(c.values) > 0 && len(q.f.IDs) == 0 && d.levels(c.column) != nil && (indexed == "" || indexed == c.column) {
			table = "(" + d.indexedIDs(b, c.column, c.values, q.f.Operators, from, 0, to) + ") AS k CROSS JOIN activities"
			where, drive = []string{"id = k.activity_id"}, c.column
			break
		}
	}
	where = append(where, "id >= "+b.arg(from), "id < "+b.arg(to))
	if q.operator != "" && len(q.f.Operators) == 1 {
		// The operator's condition narrows an index on (column, operator);
		// otherwise, next to another filter, it is kept off the operator's
		// own index, which would walk half the range.
		column := "operator"
		if operatorIndexed(q.f, d) == "" && len(q.f.Activities)+len(q.f.Usernames)+len(q.f.ObjectTypes)+len(q.f.ObjectIDs)+len(q.f.IDs) > 0 {
			column = d.Unindexed(column)
		}
		where = append(where, column+" = "+b.arg(string(q.f.Operators[0])))
	}
	if len(q.f.IDs) > 0 {
		where = append(where, "id IN ("+list(b, q.f.IDs)+")")
	}
	for _, c := range textFilters(q.f) {
		column := c.column
		switch {
		case len(c.values) == 0 || column == drive:
			continue
		case indexed != "" && column != indexed:
			column = d.Unindexed(column)
		}
		where = append(where, column+" IN ("+list(b, c.values)+")")
	}
	if q.operator == "" {
		return Query{SQL: `SELECT operator, count(*) FROM ` + table + whereClause(where) + ` GROUP BY operator`, Args: b.args}
	}
	return Query{SQL: `SELECT count(*) FROM ` + table + whereClause(where), Args: b.args}
}

// narrowestIndex returns the text column of f whose index holds the fewest
// matches in the ids [lo, hi), "" when f filters by at most one. The
// planner's statistics know only how selective a column is on average,
// not for the values given: a count that walks a frequent activity's index
// and reads each row for a rare username's is slower than the other way
// round by the ratio of their matches.
//
// With most > 0, each count stops at most matches (or at the fewest
// counted so far), and a column is chosen only if its count stopped short
// of that.
func (db *Shared) narrowestIndex(ctx context.Context, f auditlog.Filter, lo, hi, most int64) (string, error) {
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
		b := &builder{}
		var q Query
		if db.levels(c.column) != nil {
			q.SQL = `SELECT activity_id FROM (` + db.indexedIDs(b, c.column, c.values, f.Operators, lo, 0, hi) + `) AS o`
		} else {
			q.SQL = `SELECT id FROM activities WHERE ` + c.column + ` IN (` + list(b, c.values) + `)`
			if len(f.Operators) == 1 && slices.Contains(db.OperatorIndexes, c.column) {
				// The operator narrows the column's index, and lets the
				// id range narrow it further.
				q.SQL += ` AND operator = ` + b.arg(string(f.Operators[0]))
			}
			q.SQL += ` AND id >= ` + b.arg(lo) + ` AND id < ` + b.arg(hi)
		}
		if most > 0 {
			// No need to count past the fewest so far.
			q.SQL += ` LIMIT ` + b.arg(min(most, fewest))
		}
		q.SQL = `SELECT count(*) FROM (` + q.SQL + `) AS matches`
		q.Args = b.args
		n, err := db.count(ctx, q)
		if err != nil {
			return "", err
		}
		if n < fewest && (most == 0 || n < most) {
			best, fewest = c.column, n
		}
	}
	return best, nil
}

// textFilter is a text column and the values a filter gives for it.
type textFilter struct {
	column string
	values []string
}

// textFilters are f's text columns, each with the values f gives.
func textFilters(f auditlog.Filter) []textFilter {
	return []textFilter{
		{"activity_system_name", f.Activities},
		{"username", f.Usernames},
		{"object_type", f.ObjectTypes},
		{"object_id", f.ObjectIDs},
	}
}

// textValues are the values f gives for a text column.
func textValues(f auditlog.Filter, column string) []string {
	for _, c := range textFilters(f) {
		if c.column == column {
			return c.values
		}
	}
	return nil
}

// count runs a query that answers one count.
func (db *Shared) count(ctx context.Context, q Query) (int64, error) {
	var n int64
	if err := db.Read.QueryRow(ctx, q.SQL, q.Args...).Scan(&n); err != nil {
		return 0, db.Wrap("count activities", err)
	}
	return n, nil
}

// countByOperator runs a query that answers (operator, count) rows.
func (db *Shared) countByOperator(ctx context.Context, q Query) (auditlog.OperatorCounts, error) {
	var counts auditlog.OperatorCounts
	rows, err := db.Read.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return counts, db.Wrap("count activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var n int64
		if err := rows.Scan(&op, &n); err != nil {
			return counts, db.Wrap("count activities", err)
		}
		counts.Add(auditlog.Operator(op), n)
	}
	return counts, db.Wrap("count activities", rows.Err())
}
