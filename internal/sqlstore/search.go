package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
)

// The full-text index is two tables, written by the store's indexer
// (Indexer) just behind the writer (PostgreSQL: migration
// 0013_search.sql; SQLite: its own file, search.db):
//   - search_activities, one document per activity, keyed by its id;
//   - search_rows, one document per row of the column changes, keyed by
//     rowKey(id, row).
//
// Each store renders a document and a query its own way (Dialect.Search);
// what a word is, and what a document holds, is the domain's
// (auditlog.NewSearchDocument).

// SearchTables are the tables of the index, by auditlog.SearchTable.
var SearchTables = [...]string{auditlog.SearchActivities: "search_activities", auditlog.SearchRows: "search_rows"}

// rowsPerActivity is how many keys of search_rows each activity has:
// auditlog.MaxChanges rows fit.
const rowsPerActivity = 256

// rowKey is the key in search_rows of row of the activity id.
func rowKey(id int64, row int) int64 { return id*rowsPerActivity + int64(row) }

// keyRange is the range of keys, as SQL expressions, of the documents of
// table that belong to the activity whose id is the SQL expression id.
func keyRange(table auditlog.SearchTable, id string) (lo, hi string) {
	if table == auditlog.SearchRows {
		return "(" + id + ") * " + strconv.Itoa(rowsPerActivity), "(" + id + ") * " + strconv.Itoa(rowsPerActivity) + " + " + strconv.Itoa(rowsPerActivity-1)
	}
	return id, id
}

// keyActivity is the SQL expression of the id of the activity whose
// document of table has the key that the SQL expression key is.
func keyActivity(table auditlog.SearchTable, key string) string {
	if table == auditlog.SearchRows {
		return "(" + key + " / " + strconv.Itoa(rowsPerActivity) + ")"
	}
	return key
}

// SearchDialect is how a store keeps and asks its full-text index.
type SearchDialect struct {
	// Document renders words (with their gaps) as the store's document.
	Document func(words []string) string
	// Query renders a text query's groups (and excluded groups) as the
	// store's query text.
	Query func(q auditlog.TextQuery) string
	// Exists is the condition that a document of table whose key is
	// between the SQL expressions lo and hi (inclusive) matches the query
	// bound at param.
	Exists func(table auditlog.SearchTable, param, lo, hi string) string
	// Walk, when set, says that the store's index keeps the activities'
	// facet words and that a search walks it rather than the activities:
	// Walk is the FROM and the condition of a walk of the documents of
	// table that match the query bound at param, in the order of key (the
	// SQL expression of the index's own key). A store whose planner
	// chooses between walking the index and walking the activities (from
	// statistics it keeps of both) leaves it nil, and Exists is then a
	// condition like any other.
	Walk func(table auditlog.SearchTable, param string) (from, match, key string)
}

// documents are the documents of the activities with these ids, as the
// store's index keeps them: the activities' (with their facet words,
// where the index walks them) and the rows'.
func (d SearchDialect) documents(ids []int64, docs []*auditlog.SearchDocument) (activities, rows Documents) {
	for i, doc := range docs {
		words := doc.Words
		if d.Walk != nil {
			words = append(slices.Clip(words), doc.Facets...)
		}
		activities.Keys = append(activities.Keys, ids[i])
		activities.Texts = append(activities.Texts, d.Document(words))
		for r, words := range doc.Rows {
			rows.Keys = append(rows.Keys, rowKey(ids[i], r))
			rows.Texts = append(rows.Texts, d.Document(words))
		}
	}
	return activities, rows
}

// Documents are documents of one table of the index, by key.
type Documents struct {
	Keys  []int64
	Texts []string
}

// SearchIndexed implements auditlog.ActivityService.
func (db *Shared) SearchIndexed(ctx context.Context) (auditlog.SearchIndexState, error) {
	var st auditlog.SearchIndexState
	if err := db.Read.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM activities`).Scan(&st.Newest); err != nil {
		return st, db.Wrap("read the newest activity", err)
	}
	st.Through = st.Newest
	if db.Index != nil {
		through, err := db.Index.Through(ctx)
		if err != nil {
			return st, db.Wrap("read how far the search index is", err)
		}
		st.Through = min(through, st.Newest)
	}
	return st, nil
}

// prepareSearch readies f's search for a read: it returns f with the
// search's activity terms resolved against the catalogue (f itself is
// left as it is), once the index holds every activity recorded before
// (or IndexWait has passed).
func (db *Shared) prepareSearch(ctx context.Context, f auditlog.Filter) (auditlog.Filter, error) {
	if f.Search == nil {
		return f, nil
	}
	if db.Index != nil {
		st, err := db.SearchIndexed(ctx)
		if err != nil {
			return f, err
		}
		if !st.Complete() {
			if err := db.Index.Await(ctx, st.Newest); err != nil {
				return f, err
			}
		}
	}
	s := *f.Search
	s.Terms = append([]auditlog.SearchTerm(nil), s.Terms...)
	resolve := false
	for i := range s.Terms {
		if s.Terms[i].Field == auditlog.SearchActivity {
			s.Terms[i].Names = nil
			resolve = true
		}
	}
	if resolve {
		types, err := db.ActivityTypes(ctx)
		if err != nil {
			return f, err
		}
		// A name that stands for no type matches nothing; the API refuses
		// it before it gets here.
		_ = s.Resolve(types)
	}
	f.Search = &s
	return f, nil
}

// A searchPlan is how a page of a search is read: walking the documents
// of the index that match one text query (drive), or else the
// activities, and testing each activity for the other text queries
// (checks) besides the conditions on its columns.
type searchPlan struct {
	drive  *auditlog.TextQuery
	checks []searchCheck
}

// A searchCheck is a text query tested on each activity: by Exists, one
// probe of the index per activity, or, with members, as membership of the
// ids the query matches, read from the index once.
type searchCheck struct {
	q       auditlog.TextQuery
	members bool
}

// memberMost bounds the matches of a text query tested by membership
// (and the counts that choose between two walks): reading that many from
// the index costs about what a few dozen probes do.
const memberMost = 5000

// planSearch chooses how to read f's search in the id range. A store
// whose planner chooses (no SearchDialect.Walk) tests every text query
// with Exists. Otherwise the index answers all it can in one query of
// the activities' documents (Filter.IndexQuery) and the positive terms
// on column changes in one query of the rows; the search walks whichever
// of the two matches fewer documents and tests the other on each
// activity it finds; a negated term on the changes is tested on each.
func (db *Shared) planSearch(ctx context.Context, q Querier, f auditlog.Filter, ids IDRange) (searchPlan, error) {
	var plan searchPlan
	if f.Search == nil {
		return plan, nil
	}
	d := db.Dialect.Search
	if d.Walk == nil {
		for _, tq := range f.Search.TextQueries() {
			plan.checks = append(plan.checks, searchCheck{q: tq})
		}
		return plan, nil
	}
	var walks []auditlog.TextQuery
	if aq, ok := f.IndexQuery(); ok {
		walks = append(walks, aq)
	}
	for _, tq := range f.Search.TextQueries() {
		switch {
		case tq.Table == auditlog.SearchRows && !tq.Negated:
			walks = append(walks, tq)
		case tq.Table == auditlog.SearchRows:
			plan.checks = append(plan.checks, searchCheck{q: tq})
		}
	}
	switch len(walks) {
	case 0:
		return plan, nil
	case 1:
		plan.drive = &walks[0]
		return plan, nil
	}
	var counts [2]int64
	for i, w := range walks {
		n, err := db.countMatches(ctx, q, f, w, ids, memberMost)
		if err != nil {
			return plan, err
		}
		counts[i] = n
	}
	drive, other := 0, 1
	if counts[1] < counts[0] {
		drive, other = 1, 0
	}
	plan.drive = &walks[drive]
	plan.checks = append(plan.checks, searchCheck{q: walks[other], members: counts[other] < memberMost})
	return plan, nil
}

// countMatches counts, up to most, the documents that match tq in the id
// range of f.
func (db *Shared) countMatches(ctx context.Context, q Querier, f auditlog.Filter, tq auditlog.TextQuery, ids IDRange, most int64) (int64, error) {
	b := &builder{}
	sub := matchingIDs(b, db.Dialect.Search, tq, ids, f.BeforeID)
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM (`+sub+` LIMIT `+b.arg(most)+`) AS matches`, b.args...).Scan(&n)
	return n, err
}

// matchingIDs is the SELECT of the activity ids (repeated for rows) whose
// documents match tq in the id range, newest first.
func matchingIDs(b *builder, d SearchDialect, tq auditlog.TextQuery, ids IDRange, before int64) string {
	from, match, key := d.Walk(tq.Table, b.arg(d.Query(tq)))
	where := append([]string{match}, keyBounds(b, tq.Table, key, ids, before)...)
	return `SELECT ` + keyActivity(tq.Table, key) + ` FROM ` + from + whereClause(where) + ` ORDER BY ` + key + ` DESC`
}

// keyBounds bounds the key of a walk of table to the id range.
func keyBounds(b *builder, table auditlog.SearchTable, key string, ids IDRange, before int64) []string {
	lo, hi := ids.Lo, ids.Hi
	if table == auditlog.SearchRows {
		lo, hi, before = rowKey(lo, 0), rowKey(hi, rowsPerActivity-1), rowKey(before, 0)
		if ids.Hi == 0 {
			hi = 0
		}
	}
	return idBounds(b, key, lo, hi, before)
}

// searchConditions are the conditions of f's search on a row of
// activities: its terms on the columns, and the plan's checks.
func searchConditions(b *builder, s *auditlog.Search, d Dialect, plan searchPlan, ids IDRange, before int64) []string {
	if s == nil {
		return nil
	}
	var where []string
	for i := range s.Terms {
		t := &s.Terms[i]
		cond := termCondition(b, t)
		if cond == "" {
			continue
		}
		if t.Negated {
			cond = "NOT " + cond
		}
		where = append(where, cond)
	}
	for _, c := range plan.checks {
		var cond string
		if c.members {
			cond = "activities.id IN (" + matchingIDs(b, d.Search, c.q, ids, before) + ")"
		} else {
			lo, hi := keyRange(c.q.Table, "activities.id")
			cond = d.Search.Exists(c.q.Table, b.arg(d.Search.Query(c.q)), lo, hi)
		}
		if c.q.Negated {
			cond = "NOT " + cond
		}
		where = append(where, cond)
	}
	return where
}

// termCondition is the condition of a term that the activities table
// answers (its negation aside), "" for a term of the index.
func termCondition(b *builder, t *auditlog.SearchTerm) string {
	in := func(column string, values []string) string {
		if len(values) == 0 {
			return "(1 = 0)"
		}
		return "(" + column + " IN (" + list(b, values) + "))"
	}
	spans := func(column string) string {
		var ors []string
		for _, s := range t.Spans {
			ors = append(ors, column+" BETWEEN "+b.arg(s.Lo)+" AND "+b.arg(s.Hi))
		}
		return "(" + strings.Join(ors, " OR ") + ")"
	}
	switch t.Field {
	case auditlog.SearchActivity:
		return in("activity_system_name", t.Names)
	case auditlog.SearchOperator:
		return in("operator", t.Values)
	case auditlog.SearchUsername:
		return in("username", t.Values)
	case auditlog.SearchObjectType:
		return in("object_type", t.Values)
	case auditlog.SearchObjectID:
		return in("object_id", t.Values)
	case auditlog.SearchRecordedBy:
		return in("recorded_by", t.Values)
	case auditlog.SearchID:
		return spans("id")
	case auditlog.SearchCreated:
		return spans("created_us")
	}
	return ""
}

// searchQuery is the list query of f that walks the documents matching
// the plan's drive: one walk of the index in id order, each activity it
// finds (once, though several of its rows match) tested for the rest of f.
func searchQuery(b *builder, f auditlog.Filter, ids IDRange, d Dialect, columns string, plan searchPlan) string {
	q := *plan.drive
	from, match, key := d.Search.Walk(q.Table, b.arg(d.Search.Query(q)))
	where := append([]string{match}, keyBounds(b, q.Table, key, ids, f.BeforeID)...)
	where = append(where, keyActivity(q.Table, key)+" = activities.id")
	where = append(where, filterConditions(b, withImpliedOperator(f), ids)...)
	where = append(where, searchConditions(b, f.Search, d, plan, ids, f.BeforeID)...)
	order := " DESC"
	if f.OldestFirst {
		order = ""
	}
	selection := `SELECT `
	if q.Table == auditlog.SearchRows {
		// A walk of the rows finds an activity at each of its matching
		// rows, one after the other.
		selection = `SELECT DISTINCT `
	}
	s := selection + columns + ` FROM ` + from + ` CROSS JOIN activities` + whereClause(where) + ` ORDER BY ` + key + order
	if f.Limit > 0 {
		s += " LIMIT " + b.arg(f.Limit)
	}
	return s
}

// filterConditions are the conditions of f's filters (its search aside)
// on a row of activities, each a test of the row.
func filterConditions(b *builder, f auditlog.Filter, ids IDRange) []string {
	where := idBounds(b, "activities.id", ids.Lo, ids.Hi, f.BeforeID)
	add := func(column string, values []string) {
		if len(values) > 0 {
			where = append(where, column+" IN ("+list(b, values)+")")
		}
	}
	ops := make([]string, len(f.Operators))
	for i, o := range f.Operators {
		ops[i] = string(o)
	}
	add("operator", ops)
	if len(f.IDs) > 0 {
		where = append(where, "activities.id IN ("+list(b, f.IDs)+")")
	}
	for _, c := range textFilters(f) {
		add(c.column, c.values)
	}
	return where
}

// countSearch counts the matches of f, which has a search, with ids above
// after in each interval of bounds, into counts: the index answers which
// activities match, not how many, so each match's time and operator is
// read.
func (db *Shared) countSearch(ctx context.Context, f auditlog.Filter, bounds []time.Time, after int64, counts []auditlog.OperatorCounts) ([]auditlog.OperatorCounts, error) {
	f, err := db.prepareSearch(ctx, f)
	if err != nil {
		return nil, err
	}
	edges := make([]int64, len(bounds))
	for i, b := range bounds {
		edges[i] = b.UnixMicro()
	}
	err = db.Snapshot(ctx, func(q Querier) error {
		ids, ok, err := db.idRange(ctx, q, f)
		if err != nil || !ok {
			return err
		}
		ids.Lo = max(ids.Lo, after+1)
		plan, err := db.planSearch(ctx, q, f, ids)
		if err != nil {
			return err
		}
		b := &builder{}
		list := listQuery(b, f, ids, "", db.Dialect, "activities.id, created_us, operator", plan)
		rows, err := q.Query(ctx, list, b.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, created int64
			var operator string
			if err := rows.Scan(&id, &created, &operator); err != nil {
				return err
			}
			// The first bound above the time ends its interval.
			i, _ := slices.BinarySearch(edges, created+1)
			if i > 0 && i < len(edges) {
				counts[i-1].Add(auditlog.Operator(operator), 1)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.Wrap("count activities", err)
	}
	return counts, nil
}

// IndexNext reads the activities recorded in read after the id after (at
// most IndexBatch), inserts their documents through insert, one table at
// a time, and returns the id of the last (after when there is none): one
// step of a store's Indexer, in the transaction insert writes in.
func IndexNext(ctx context.Context, read Querier, d SearchDialect, after int64, insert func(ctx context.Context, table string, docs Documents) error) (last int64, err error) {
	rows, err := read.Query(ctx, `SELECT `+ActivityColumns+` FROM activities WHERE id > $1 ORDER BY id LIMIT `+strconv.Itoa(IndexBatch), after)
	if err != nil {
		return after, err
	}
	defer rows.Close()
	var ids []int64
	var found []*auditlog.SearchDocument
	var s activityScan
	for rows.Next() {
		if err := s.scan(rows); err != nil {
			return after, err
		}
		doc := auditlog.NewSearchDocument(&s.a)
		ids, found = append(ids, s.a.ID), append(found, &doc)
	}
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return after, err
	}
	activities, changes := d.documents(ids, found)
	for table, docs := range [...]Documents{auditlog.SearchActivities: activities, auditlog.SearchRows: changes} {
		if len(docs.Keys) > 0 {
			if err := insert(ctx, SearchTables[table], docs); err != nil {
				return after, err
			}
		}
	}
	return ids[len(ids)-1], nil
}
