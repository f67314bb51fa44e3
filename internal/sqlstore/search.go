package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
)

// The full-text index (migration *_search.sql) is two tables, written by
// the sequencer in the transaction that records the activities:
//   - search_activities, one document per activity, keyed by its id;
//   - search_rows, one document per row of the column changes, keyed by
//     RowKey(id, row).
//
// Each store renders a document and a query its own way (Dialect.Search);
// what a word is, and what a document holds, is the domain's
// (auditlog.NewSearchDocument).

// SearchTables are the tables of the index, by auditlog.SearchTable.
var SearchTables = [...]string{auditlog.SearchActivities: "search_activities", auditlog.SearchRows: "search_rows"}

// rowKeyBits is how many low bits of a row's key number the row within
// its activity: auditlog.MaxChanges rows fit.
const rowKeyBits = 8

// RowKey is the key in search_rows of row of the activity id.
func RowKey(id int64, row int) int64 { return id<<rowKeyBits | int64(row) }

// SearchDialect is how a store keeps and asks its full-text index.
type SearchDialect struct {
	// Document renders words (with their gaps) as the store's document.
	Document func(words []string) string
	// Query renders a text query's groups as the store's query text.
	Query func(groups [][][]string) string
	// Exists is the condition that the activity whose id is the SQL
	// expression id has a document of table matching the query bound at
	// param (for search_rows, one of its rows' documents).
	Exists func(table auditlog.SearchTable, param, id string) string
	// Drives, when set, is the FROM and the conditions of a walk of the
	// index over the activities that match the query bound at param, in
	// the order of key (the index's own key) and each activity once, and
	// the SQL expression of the activity's id at each step. A store whose
	// planner chooses between walking the index and walking the activities
	// itself (from statistics) leaves it nil, and Exists is then a
	// condition like any other.
	Drives func(table auditlog.SearchTable, param string) (from string, where []string, key, id string)
}

// SearchDocuments are the documents of the activities with these ids, as
// the store's index keeps them: the activities' and the rows'.
func (d SearchDialect) SearchDocuments(ids []int64, docs []*auditlog.SearchDocument) (activities, rows Documents) {
	for i, doc := range docs {
		activities.Keys = append(activities.Keys, ids[i])
		activities.Texts = append(activities.Texts, d.Document(doc.Words))
		for r, words := range doc.Rows {
			rows.Keys = append(rows.Keys, RowKey(ids[i], r))
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

// resolveSearch returns f with its search's activity terms resolved
// against the catalogue; f itself is left as it is.
func (db *Shared) resolveSearch(ctx context.Context, f auditlog.Filter) (auditlog.Filter, error) {
	if f.Search == nil {
		return f, nil
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

// searchDrive is how a query is driven by the index: the text query that
// walks it (its index in TextQueries), or -1 when the query walks the
// activities.
func searchDrive(f auditlog.Filter, d Dialect) int {
	if f.Search == nil || d.Search.Drives == nil {
		return -1
	}
	if qs := f.Search.TextQueries(); len(qs) > 0 && !qs[0].Negated {
		return 0
	}
	return -1
}

// searchConditions are the conditions of f's search on a row of
// activities, but for the text query skip (-1 for none), which drives the
// query.
func searchConditions(b *builder, s *auditlog.Search, d Dialect, skip int) []string {
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
	for i, q := range s.TextQueries() {
		if i == skip {
			continue
		}
		cond := d.Search.Exists(q.Table, b.arg(d.Search.Query(q.Groups)), "activities.id")
		if q.Negated {
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

// searchQuery is the list query of f driven by its search's first text
// query (searchDrive): one walk of the index in id order, each activity it
// finds tested for the rest of f.
func searchQuery(f auditlog.Filter, ids IDRange, d Dialect, columns string) Query {
	b := &builder{}
	q := f.Search.TextQueries()[0]
	from, where, key, id := d.Search.Drives(q.Table, b.arg(d.Search.Query(q.Groups)))
	lo, hi, before := ids.Lo, ids.Hi, f.BeforeID
	if q.Table == auditlog.SearchRows {
		lo, hi, before = RowKey(lo, 0), RowKey(hi, 1<<rowKeyBits-1), RowKey(before, 0)
		if ids.Hi == 0 {
			hi = 0
		}
	}
	where = append(where, idBounds(b, key, lo, hi, before)...)
	where = append(where, id+" = activities.id")
	where = append(where, filterConditions(b, withImpliedOperator(f), ids)...)
	where = append(where, searchConditions(b, f.Search, d, 0)...)
	order := " DESC"
	if f.OldestFirst {
		order = ""
	}
	s := `SELECT ` + columns + ` FROM ` + from + ` CROSS JOIN activities` + whereClause(where) + ` ORDER BY ` + key + order
	if f.Limit > 0 {
		s += " LIMIT " + b.arg(f.Limit)
	}
	return Query{SQL: s, Args: b.args}
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
	f, err := db.resolveSearch(ctx, f)
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
		list := listQuery(f, ids, "", db.Dialect, "activities.id, created_us, operator")
		rows, err := q.Query(ctx, list.SQL, list.Args...)
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

// indexBatch is how many activities IndexRecorded reads at a time.
const indexBatch = 2000

// IndexRecorded adds to the full-text index, through insert, the documents
// of every activity recorded in q: the migration that creates the index
// runs it, in its transaction.
func IndexRecorded(ctx context.Context, q Querier, d SearchDialect, insert func(ctx context.Context, table string, docs Documents) error) error {
	var after int64
	for {
		var ids []int64
		var docs []*auditlog.SearchDocument
		rows, err := q.Query(ctx, `SELECT `+ActivityColumns+` FROM activities WHERE id > $1 ORDER BY id LIMIT `+strconv.Itoa(indexBatch), after)
		if err != nil {
			return err
		}
		var s activityScan
		for rows.Next() {
			if err := s.scan(rows); err != nil {
				rows.Close()
				return err
			}
			doc := auditlog.NewSearchDocument(&s.a)
			ids, docs = append(ids, s.a.ID), append(docs, &doc)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		after = ids[len(ids)-1]
		activities, changes := d.SearchDocuments(ids, docs)
		for table, docs := range []Documents{auditlog.SearchActivities: activities, auditlog.SearchRows: changes} {
			if len(docs.Keys) > 0 {
				if err := insert(ctx, SearchTables[table], docs); err != nil {
					return err
				}
			}
		}
	}
}
