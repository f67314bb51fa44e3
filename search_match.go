package auditlog

import (
	"slices"
)

// SearchTable is the part of the full-text index a text query asks.
type SearchTable int

const (
	// SearchActivities holds each activity's SearchDocument.Words.
	SearchActivities SearchTable = iota
	// SearchRows holds each row of each activity's column changes.
	SearchRows
)

// A TextQuery is what a search asks of one table of the full-text index:
// a document that holds, for each group, one of its phrases (a phrase is
// words that follow each other); with Negated, the activity has no such
// document.
type TextQuery struct {
	Table   SearchTable
	Negated bool
	Groups  [][][]string
	// Excluded are groups none of whose phrases the document may hold.
	Excluded [][][]string
}

// TextQueries are the questions s puts to the full-text index, positive
// ones first: the positive word terms in one query of the activities, the
// positive row terms in one query of the rows, and each negated term in a
// query of its own. A store answers the other terms from the activities
// table.
func (s *Search) TextQueries() []TextQuery {
	var out []TextQuery
	positive := TextQuery{Table: SearchActivities}
	for i := range s.Terms {
		t := &s.Terms[i]
		switch {
		case t.IsRow():
			out = append(out, TextQuery{Table: SearchRows, Negated: true, Groups: [][][]string{t.indexPhrases()}})
		case !t.IsWords():
		case t.Negated:
			out = append(out, TextQuery{Table: SearchActivities, Negated: true, Groups: [][][]string{t.indexPhrases()}})
		default:
			positive.Groups = append(positive.Groups, t.indexPhrases())
		}
	}
	var first []TextQuery
	if len(positive.Groups) > 0 {
		first = append(first, positive)
	}
	if len(s.Row) > 0 {
		row := TextQuery{Table: SearchRows}
		for i := range s.Row {
			row.Groups = append(row.Groups, s.Row[i].indexPhrases())
		}
		first = append(first, row)
	}
	return append(first, out...)
}

// IndexQuery is the one query of the activities' documents, facet words
// included, that answers every term of f's search that is not about the
// column changes or the id or time, and f's filters of exact values: a
// store that keeps facet words walks its index by it, and intersects
// there what its B-trees would intersect row by row. ok is false when it
// would ask nothing.
func (f Filter) IndexQuery() (q TextQuery, ok bool) {
	q.Table = SearchActivities
	facets := func(field SearchField, values []string) [][]string {
		out := make([][]string, len(values))
		for i, v := range values {
			out[i] = []string{FacetWord(field, v)}
		}
		return out
	}
	if s := f.Search; s != nil {
		for i := range s.Terms {
			t := &s.Terms[i]
			var phrases [][]string
			switch {
			case t.IsRow(), t.Field == SearchID, t.Field == SearchCreated:
				continue
			case t.IsWords():
				phrases = t.indexPhrases()
			case t.Field == SearchActivity && len(t.Names) == 0:
				phrases = facets(t.Field, []string{""}) // no type: no document
			case t.Field == SearchActivity:
				phrases = facets(t.Field, t.Names)
			default:
				phrases = facets(t.Field, t.Values)
			}
			if t.Negated {
				q.Excluded = append(q.Excluded, phrases)
			} else {
				q.Groups = append(q.Groups, phrases)
			}
		}
	}
	operators := make([]string, len(f.Operators))
	for i, o := range f.Operators {
		operators[i] = string(o)
	}
	objectTypes, objectIDs := f.ObjectTypes, f.ObjectIDs
	if len(objectTypes) > 0 && len(objectIDs) > 0 && len(objectTypes)*len(objectIDs) <= maxObjectFacets {
		var objects [][]string
		for _, t := range objectTypes {
			for _, id := range objectIDs {
				objects = append(objects, []string{ObjectFacetWord(t, id)})
			}
		}
		q.Groups = append(q.Groups, objects)
		objectTypes, objectIDs = nil, nil
	}
	for _, filter := range []struct {
		field  SearchField
		values []string
	}{{SearchActivity, f.Activities}, {SearchOperator, operators}, {SearchUsername, f.Usernames},
		{SearchObjectType, objectTypes}, {SearchObjectID, objectIDs}} {
		if len(filter.values) > 0 {
			q.Groups = append(q.Groups, facets(filter.field, filter.values))
		}
	}
	if len(q.Groups) == 0 && len(q.Excluded) > 0 {
		// Every activity has an operator.
		q.Groups = append(q.Groups, facets(SearchOperator, []string{string(OperatorHuman), string(OperatorMachine)}))
	}
	return q, len(q.Groups) > 0
}

// maxObjectFacets bounds the objects (types × ids) that IndexQuery asks
// for by their ObjectFacetWord, each an alternative of the query; past
// it, the types and the ids are asked for apart.
const maxObjectFacets = 64

// indexPhrases are t's alternatives as the index's words.
func (t *SearchTerm) indexPhrases() [][]string {
	if t.Field == SearchColumn {
		out := make([][]string, len(t.Values))
		for i, v := range t.Values {
			out[i] = []string{nameWord(columnWordPrefix, v)}
		}
		return out
	}
	prefix := ""
	switch t.Field {
	case SearchObject:
		prefix = objectWordPrefix
	case SearchOld:
		prefix = oldWordPrefix
	case SearchNew:
		prefix = newWordPrefix
	case SearchExtra:
		prefix = nameWord(extraWordPrefix, t.Path) + "_"
	}
	out := make([][]string, len(t.Phrases))
	for i, p := range t.Phrases {
		out[i] = prefixed(prefix, p)
	}
	return out
}

// Matches reports whether a matches s, by reading a itself rather than
// an index: the brute-force matcher that the stores' answers are checked
// against. Activity terms must have been resolved.
func (s *Search) Matches(a *Activity) bool {
	doc := NewSearchDocument(a)
	for i := range s.Terms {
		t := &s.Terms[i]
		if t.matchesFields(a, &doc) == t.Negated {
			return false
		}
	}
	if len(s.Row) == 0 {
		return true
	}
	for _, row := range doc.Rows {
		all := true
		for i := range s.Row {
			if !matchesGroup(row, s.Row[i].indexPhrases()) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matchesFields reports whether a matches t, negation aside.
func (t *SearchTerm) matchesFields(a *Activity, doc *SearchDocument) bool {
	switch t.Field {
	case SearchActivity:
		return slices.Contains(t.Names, a.SystemName)
	case SearchOperator:
		return slices.Contains(t.Values, string(a.Operator))
	case SearchUsername:
		return slices.Contains(t.Values, a.Username)
	case SearchObjectType:
		return slices.Contains(t.Values, a.ObjectType)
	case SearchObjectID:
		return slices.Contains(t.Values, a.ObjectID)
	case SearchRecordedBy:
		return slices.Contains(t.Values, string(a.RecordedBy))
	case SearchID:
		return inSpans(t.Spans, a.ID)
	case SearchCreated:
		return inSpans(t.Spans, a.Created.UnixMicro())
	case SearchColumn, SearchOld, SearchNew:
		phrases := t.indexPhrases()
		return slices.ContainsFunc(doc.Rows, func(row []string) bool { return matchesGroup(row, phrases) })
	}
	return matchesGroup(doc.Words, t.indexPhrases())
}

func inSpans(spans []Span, v int64) bool {
	return slices.ContainsFunc(spans, func(s Span) bool { return s.Lo <= v && v <= s.Hi })
}

// matchesGroup reports whether words hold one of the phrases.
func matchesGroup(words []string, phrases [][]string) bool {
	for _, p := range phrases {
		for i := 0; i+len(p) <= len(words); i++ {
			if slices.Equal(words[i:i+len(p)], p) {
				return true
			}
		}
	}
	return false
}
