package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
)

// Query is an SQL statement and its arguments.
type Query struct {
	SQL  string
	Args []any
}

// IDRange is the range of ids a filter's dates map to; 0 leaves an end open.
type IDRange struct{ Lo, Hi int64 }

// builder binds a query's arguments, numbering their placeholders.
type builder struct {
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// list binds each value and returns their placeholders, comma-separated.
func list[T any](b *builder, values []T) string {
	ps := make([]string, len(values))
	for i, v := range values {
		ps[i] = b.arg(v)
	}
	return strings.Join(ps, ", ")
}

// Placeholders returns "$first, $first+1, ..." for n values.
func Placeholders(first, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(first+i)
	}
	return strings.Join(ps, ", ")
}

// ListQuery builds the SELECT of ActivityColumns that lists what f
// selects, its dates already mapped to ids.
//
// Every filter has an index ending in the id, so each condition can walk its
// index newest first and stop after one page. Two things keep that true:
//   - A date range becomes an id range (created never decreases with id), so
//     it narrows whichever index the planner picks instead of forcing a sort.
//   - A filter with several values (OR) becomes one branch per value, each
//     reading at most one page from its index, merged by id: "IN (...)"
//     would read every match of every value and sort them.
//   - A column whose only index is on (column, operator) (Dialect.
//     OperatorIndexes) is walked in id order one operator at a time: with
//     no operator given, that is one branch per operator.
//   - The column named narrow, if any, is tested as a set of ids read from
//     its index alone, so that the index the query walks reads a row only
//     for the activities that match both: walking one index and reading
//     each row to test the other column reads thousands of rows when each
//     column has thousands of matches and the two have few in common.
//
// A search (f.Search) is read as its plan says (planSearch): walking the
// full-text index where the store's index keeps facets, its other terms
// tested on each row.
func ListQuery(f auditlog.Filter, ids IDRange, narrow string, d Dialect, plan searchPlan) Query {
	b := &builder{}
	return Query{SQL: listQuery(b, f, ids, narrow, d, ActivityColumns, plan), Args: b.args}
}

// listQuery is ListQuery reading columns (which include id), its
// arguments bound by b.
func listQuery(b *builder, f auditlog.Filter, ids IDRange, narrow string, d Dialect, columns string, plan searchPlan) string {
	if plan.drive != nil {
		return searchQuery(b, f, ids, d, columns, plan)
	}
	paged := f.Limit > 0 && len(f.IDs) == 0 && !f.OldestFirst
	if d.IntersectsIndexes {
		f = withoutImpliedOperator(f)
	} else {
		f = withImpliedOperator(f)
	}

	// Object ids, when given, drive the query from their own index; or
	// else the first multi-valued indexed filter but the narrow one, if
	// any, is split into branches.
	var split string
	splitValues := []string{""}
	textFilters := textFilters(f)
	for _, c := range textFilters {
		if paged && c.column != narrow && (d.levels(c.column) != nil && len(c.values) > 0 || len(c.values) > 1) {
			split, splitValues = c.column, c.values
			break
		}
	}
	// So is the operator, when the filter's column is indexed with it.
	opIndexed := operatorIndexed(withoutColumn(f, narrow), d)
	operators := []auditlog.Operator{""}
	if len(f.Operators) == 0 && opIndexed != "" && paged {
		operators = []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine}
	}

	conditions := func() []string {
		where := idBounds(b, "id", ids.Lo, ids.Hi, f.BeforeID)
		add := func(cond string) { where = append(where, cond) }
		if len(f.Operators) == 1 {
			// operator has two values, so its index narrows less than any
			// other filter's. When another filter is given, the planner is
			// kept off that index: with statistics it would not pick it
			// anyway, but before the first statistics are gathered (a store
			// that was empty when the server started) it may, and then
			// walks half the table.
			// Next to a column indexed with the operator, the operator's
			// condition narrows that index instead.
			column := "operator"
			if opIndexed == "" && len(f.Activities)+len(f.Usernames)+len(f.ObjectTypes)+len(f.ObjectIDs)+len(f.IDs) > 0 {
				column = d.Unindexed(column)
			}
			add(column + " = " + b.arg(string(f.Operators[0])))
		}
		where = append(where, searchConditions(b, f.Search, d, plan, ids, f.BeforeID)...)
		if len(f.IDs) > 0 {
			add("id IN (" + list(b, f.IDs) + ")")
		}
		for _, c := range textFilters {
			if c.column == split {
				continue
			}
			if c.column == narrow && len(c.values) > 0 {
				// id + 0: a test of each row the walked index finds, never
				// the set the planner walks instead.
				if d.levels(c.column) != nil {
					add("id + 0 IN (" + d.indexedIDs(b, c.column, c.values, f.Operators, ids.Lo, ids.Hi, f.BeforeID) + ")")
					continue
				}
				where := append([]string{c.column + " IN (" + list(b, c.values) + ")"}, idBounds(b, "id", ids.Lo, ids.Hi, f.BeforeID)...)
				add("id + 0 IN (SELECT id FROM activities" + whereClause(where) + ")")
				continue
			}
			if d.levels(c.column) != nil && len(c.values) > 0 && len(f.IDs) == 0 {
				// Not walked page by page (an export, oldest first): the
				// set of its matches drives the query. Next to given ids
				// the row's own column is tested instead.
				add("id IN (" + d.indexedIDs(b, c.column, c.values, f.Operators, ids.Lo, ids.Hi, 0) + ")")
				continue
			}
			switch len(c.values) {
			case 0:
			case 1:
				add(c.column + " = " + b.arg(c.values[0]))
			default:
				add(c.column + " IN (" + list(b, c.values) + ")")
			}
		}
		return where
	}
	limit := func() string {
		if f.Limit > 0 {
			return " LIMIT " + b.arg(f.Limit)
		}
		return ""
	}

	if split == "" && len(operators) == 1 {
		order := " ORDER BY id DESC"
		if f.OldestFirst {
			order = " ORDER BY id"
		}
		s := `SELECT ` + columns + ` FROM activities` + whereClause(conditions()) + order
		return s + limit()
	}
	var branches []string
	branch := func(from string, where []string, order string) {
		where = append(where, conditions()...)
		branches = append(branches, `SELECT * FROM (SELECT `+columns+` FROM `+from+whereClause(where)+
			` ORDER BY `+order+` DESC`+limit()+`) AS branch`)
	}
	for _, v := range splitValues {
		if tables := d.levels(split); tables != nil {
			// One branch per table of the column's index (and per operator,
			// where the index is keyed by it too), each walking the value's
			// entries newest first.
			for _, op := range levelOperators(split, f.Operators) {
				key := levelKey(b, split, v, op)
				for _, table := range tables {
					where := append(slices.Clip(key), idBounds(b, "activity_id", ids.Lo, ids.Hi, f.BeforeID)...)
					from := `(SELECT activity_id FROM ` + table + whereClause(where) + `) AS k CROSS JOIN activities`
					branch(from, []string{"id = k.activity_id"}, "k.activity_id")
				}
			}
			continue
		}
		for _, op := range operators {
			var where []string
			if split != "" {
				where = append(where, split+" = "+b.arg(v))
			}
			if op != "" {
				where = append(where, "operator = "+b.arg(string(op)))
			}
			branch("activities", where, "id")
		}
	}
	return `SELECT * FROM (` + strings.Join(branches, " UNION ALL ") + `) AS merged ORDER BY id DESC` + limit()
}

// withImpliedOperator is f with the operator its usernames imply: a
// username selects humans alone (a machine's activity has none), and
// saying so lets an index on (column, operator) be walked in id order.
func withImpliedOperator(f auditlog.Filter) auditlog.Filter {
	if len(f.Operators) == 0 && len(f.Usernames) > 0 && !slices.Contains(f.Usernames, "") {
		f.Operators = []auditlog.Operator{auditlog.OperatorHuman}
	}
	return f
}

// withoutImpliedOperator is f without an operator its usernames imply
// (human): a planner that combines indexes would otherwise read each row
// the username and activity indexes find, to test the operator.
func withoutImpliedOperator(f auditlog.Filter) auditlog.Filter {
	if len(f.Operators) == 1 && f.Operators[0] == auditlog.OperatorHuman && len(f.Usernames) > 0 && !slices.Contains(f.Usernames, "") {
		f.Operators = nil
	}
	return f
}

// withoutColumn is f without its condition on the text column named.
func withoutColumn(f auditlog.Filter, column string) auditlog.Filter {
	switch column {
	case "activity_system_name":
		f.Activities = nil
	case "username":
		f.Usernames = nil
	case "object_type":
		f.ObjectTypes = nil
	case "object_id":
		f.ObjectIDs = nil
	}
	return f
}

// EventIndexTables and ObjectIndexTables hold the indexes of activities
// by event_id and by object_id, kept out of the activities table in levels
// (internal/sequencer's deferredIndex), newest entries first.
var (
	EventIndexTables  = []string{"recent_event_ids", "newer_event_ids", "middle_event_ids", "older_event_ids", "event_ids"}
	ObjectIndexTables = []string{"recent_object_ids", "newer_object_ids", "object_ids"}
)

// levels returns the tables that hold the index of a text column out of
// the activities table, in levels (internal/sequencer's deferredIndex),
// newest entries first; nil for a column indexed in the activities table.
func (d Dialect) levels(column string) []string {
	switch column {
	case "object_id":
		return ObjectIndexTables
	case "activity_system_name":
		return d.ActivityNameTables
	}
	return nil
}

// keyedByOperator says whether a levelled index (Dialect.levels) is keyed
// by the operator after the column: the activity names' is.
func keyedByOperator(column string) bool { return column == "activity_system_name" }

// levelOperators are the operators whose entries of a levelled index
// (Dialect.levels) are walked apart, where the index is keyed by the
// operator too: those given, or both; [""] where it is not.
func levelOperators(column string, operators []auditlog.Operator) []auditlog.Operator {
	switch {
	case !keyedByOperator(column):
		return []auditlog.Operator{""}
	case len(operators) == 0:
		return []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine}
	}
	return operators
}

// levelKey binds the conditions on a levelled index that select one value
// of column, and one operator unless "".
func levelKey(b *builder, column, value string, op auditlog.Operator) []string {
	key := []string{column + " = " + b.arg(value)}
	if op != "" {
		key = append(key, "operator = "+b.arg(string(op)))
	}
	return key
}

// indexedIDs is a query of the ids of the activities whose column (one
// with a levelled index) is one of values, and whose operator is one of
// operators where the index is keyed by it (all when none is given), read
// from every level, narrowed to lo <= id <= hi and id < before (0 leaves
// each out).
func (d Dialect) indexedIDs(b *builder, column string, values []string, operators []auditlog.Operator, lo, hi, before int64) string {
	where := []string{column + " IN (" + list(b, values) + ")"}
	if keyedByOperator(column) && len(operators) == 1 {
		where = append(where, "operator = "+b.arg(string(operators[0])))
	}
	where = append(where, idBounds(b, "activity_id", lo, hi, before)...)
	var parts []string
	for _, table := range d.levels(column) {
		parts = append(parts, `SELECT activity_id FROM `+table+whereClause(where))
	}
	return strings.Join(parts, " UNION ALL ")
}

// idBounds binds the conditions lo <= column <= hi and column < before on
// a column of activity ids; 0 leaves each out.
func idBounds(b *builder, column string, lo, hi, before int64) []string {
	var where []string
	if lo > 0 {
		where = append(where, column+" >= "+b.arg(lo))
	}
	if hi > 0 {
		where = append(where, column+" <= "+b.arg(hi))
	}
	if before > 0 {
		where = append(where, column+" < "+b.arg(before))
	}
	return where
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// FindPage lists one page of what f selects through stream (a store's
// StreamActivities), reading one activity more than f.Limit to tell
// whether there is a next page.
func FindPage(ctx context.Context, f auditlog.Filter, stream func(context.Context, auditlog.Filter, func(*auditlog.Activity) error) error) ([]auditlog.Activity, bool, error) {
	page := f
	if page.Limit > 0 {
		page.Limit++
	}
	out := []auditlog.Activity{}
	var arena []byte
	err := stream(ctx, page, func(a *auditlog.Activity) error {
		var kept auditlog.Activity
		kept, arena = a.Retain(arena)
		out = append(out, kept)
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
