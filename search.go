package auditlog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of a search expression.
const (
	MaxSearchBytes        = 2000
	MaxSearchTerms        = 32
	MaxSearchAlternatives = 32
)

// SearchField is what a term of a search matches.
type SearchField string

// The fields a search term can match (the contract's "Search" table).
const (
	SearchActivity   SearchField = "activity"
	SearchOperator   SearchField = "operator"
	SearchUsername   SearchField = "user"
	SearchID         SearchField = "id"
	SearchCreated    SearchField = "created"
	SearchObjectType SearchField = "type"
	SearchObjectID   SearchField = "object_id"
	SearchObject     SearchField = "object"
	SearchColumn     SearchField = "column"
	SearchOld        SearchField = "old"
	SearchNew        SearchField = "new"
	SearchExtra      SearchField = "extra"
	SearchRecordedBy SearchField = "recorded_by"
	SearchText       SearchField = "" // free words and phrases
)

// searchQualifiers maps each qualifier of the language to its field.
var searchQualifiers = map[string]SearchField{
	"activity": SearchActivity, "operator": SearchOperator, "user": SearchUsername, "username": SearchUsername,
	"id": SearchID, "created": SearchCreated, "type": SearchObjectType, "object_type": SearchObjectType,
	"object_id": SearchObjectID, "object": SearchObject, "column": SearchColumn, "old": SearchOld,
	"new": SearchNew, "recorded_by": SearchRecordedBy,
}

// A Search is a parsed search expression (ParseSearch): every term must
// hold.
type Search struct {
	// Expr is the expression as given.
	Expr string
	// Terms are the terms but the positive ones on column changes.
	Terms []SearchTerm
	// Row are the positive terms on column changes (column:, old:, new:),
	// which one row of the changes must match together.
	Row []SearchTerm
}

// A SearchTerm is one term of a search: a field, the alternatives it may
// take (any one matches), and whether it is negated.
type SearchTerm struct {
	Field   SearchField
	Negated bool
	// Path is the dotted key path of an extra term.
	Path string
	// Values are the alternatives of an exact field (operator, username,
	// object type and id, column, recorded_by) or of activity, whose
	// values are names or, ending in "*", prefixes.
	Values []string
	// Names are the system names activity's Values stand for in the
	// catalogue, once Resolve has run.
	Names []string
	// Phrases are the alternatives of a field of words (free text,
	// object, old, new, extra): each the words that must follow each
	// other.
	Phrases [][]string
	// Spans are the alternatives of id (ids) or created (microseconds
	// since the Unix epoch), each inclusive.
	Spans []Span
}

// Span is an inclusive range of int64s.
type Span struct{ Lo, Hi int64 }

// IsWords reports whether t matches words rather than exact values.
func (t *SearchTerm) IsWords() bool {
	switch t.Field {
	case SearchText, SearchObject, SearchOld, SearchNew, SearchExtra:
		return true
	}
	return false
}

// IsRow reports whether t matches a row of the column changes.
func (t *SearchTerm) IsRow() bool {
	return t.Field == SearchColumn || t.Field == SearchOld || t.Field == SearchNew
}

// badTerm is the error of a malformed expression, quoting the term.
func badTerm(term, format string, args ...any) error {
	return FieldErrorf("q", "in the search %q: %s", Clip(term, 80), fmt.Sprintf(format, args...))
}

// ParseSearch reads a search expression, its dates and times read in loc.
// A malformed expression is an error of field q that quotes the term.
func ParseSearch(expr string, loc *time.Location) (*Search, error) {
	if len(expr) > MaxSearchBytes {
		return nil, FieldErrorf("q", "the search is %d bytes long; the limit is %d", len(expr), MaxSearchBytes)
	}
	if msg := CheckText(expr, MaxSearchBytes, FreeText); msg != "" {
		return nil, FieldErrorf("q", "the search %s", msg)
	}
	if loc == nil {
		loc = time.UTC
	}
	s := &Search{Expr: expr}
	terms, err := splitTerms(expr)
	if err != nil {
		return nil, err
	}
	if len(terms) > MaxSearchTerms {
		return nil, FieldErrorf("q", "the search has %d terms; the limit is %d", len(terms), MaxSearchTerms)
	}
	for _, raw := range terms {
		t, err := parseTerm(raw, loc)
		if err != nil {
			return nil, err
		}
		if t.IsRow() && !t.Negated {
			s.Row = append(s.Row, t)
		} else {
			s.Terms = append(s.Terms, t)
		}
	}
	return s, nil
}

// splitTerms cuts expr at the spaces outside quotes.
func splitTerms(expr string) ([]string, error) {
	var terms []string
	start, quoted := -1, false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quoted && c == '\\' && i+1 < len(expr):
			i++
		case c == '"':
			quoted = !quoted
			if start < 0 {
				start = i
			}
		case !quoted && isSpace(c):
			if start >= 0 {
				terms = append(terms, expr[start:i])
				start = -1
			}
		case start < 0:
			start = i
		}
	}
	if quoted {
		return nil, badTerm(expr[start:], "a quote is not closed")
	}
	if start >= 0 {
		terms = append(terms, expr[start:])
	}
	return terms, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseTerm reads one term: [-][qualifier:]value[,value...].
func parseTerm(raw string, loc *time.Location) (SearchTerm, error) {
	var t SearchTerm
	body := raw
	if strings.HasPrefix(body, "-") {
		t.Negated, body = true, body[1:]
	}
	if body == "" {
		return t, badTerm(raw, "a - must be followed by what to leave out")
	}
	if body[0] != '"' {
		if colon := strings.IndexByte(body, ':'); colon >= 0 && !strings.Contains(body[:colon], `"`) {
			name := body[:colon]
			field, ok := searchQualifiers[name]
			switch {
			case ok:
			case strings.HasPrefix(name, "extra."):
				field, t.Path = SearchExtra, strings.TrimPrefix(name, "extra.")
				if t.Path == "" || slices.Contains(strings.Split(t.Path, "."), "") {
					return t, badTerm(raw, "extra. must be followed by a key, or keys separated by dots")
				}
			default:
				return t, badTerm(raw, "%s: is not a qualifier (quote the term to search for it as text)", Clip(name, 40))
			}
			t.Field = field
			values, err := splitValues(body[colon+1:])
			if err != nil {
				return t, badTerm(raw, "%v", err)
			}
			for _, v := range values {
				if err := t.add(v, loc); err != nil {
					return t, badTerm(raw, "%v", err)
				}
			}
			return t, nil
		}
	}
	v, rest, err := unquote(body)
	if err != nil || rest != "" {
		if err == nil {
			err = fmt.Errorf("text follows the closing quote")
		}
		return t, badTerm(raw, "%v", err)
	}
	if strings.Contains(v, "*") && body[0] != '"' {
		return t, badTerm(raw, "* is a prefix only after activity: (quote the term to search for the text)")
	}
	if err := t.add(v, loc); err != nil {
		return t, badTerm(raw, "%v", err)
	}
	return t, nil
}

// splitValues cuts a qualifier's value at the commas outside quotes and
// unquotes each alternative.
func splitValues(s string) ([]string, error) {
	var out []string
	for {
		v, rest, err := unquote(s)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(s, `"`) {
			if i := strings.IndexByte(v, ','); i >= 0 {
				v, rest = v[:i], v[i:]
			}
		}
		out = append(out, v)
		if len(out) > MaxSearchAlternatives {
			return nil, fmt.Errorf("more than %d alternatives", MaxSearchAlternatives)
		}
		if rest == "" {
			return out, nil
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("text follows the closing quote")
		}
		s = rest[1:]
	}
}

// unquote reads a value from the start of s: a quoted string (with \" and
// \\ escapes) and what follows it, or else all of s.
func unquote(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return s, "", nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("a quote is not closed")
}

// add reads one alternative of t.
func (t *SearchTerm) add(v string, loc *time.Location) error {
	if v == "" {
		return fmt.Errorf("a value is missing")
	}
	switch t.Field {
	case SearchOperator:
		if op := Operator(v); op != OperatorHuman && op != OperatorMachine {
			return fmt.Errorf("operator must be human or machine")
		}
	case SearchID:
		span, err := parseIDSpan(v)
		if err != nil {
			return err
		}
		t.Spans = append(t.Spans, span)
		return nil
	case SearchCreated:
		span, err := parseTimeSpan(v, loc)
		if err != nil {
			return err
		}
		t.Spans = append(t.Spans, span)
		return nil
	case SearchActivity:
		if strings.Contains(strings.TrimSuffix(v, "*"), "*") {
			return fmt.Errorf("* may only end an activity name, as a prefix")
		}
	}
	if t.IsWords() {
		words := Words(v)
		if len(words) == 0 {
			return fmt.Errorf("%q holds no word to search for (words are letters and digits)", Clip(v, 40))
		}
		t.Phrases = append(t.Phrases, words)
		return nil
	}
	if msg := CheckText(v, MaxObjectIDLen, Identifier); msg != "" {
		return fmt.Errorf("the value %s", msg)
	}
	t.Values = append(t.Values, v)
	return nil
}

// parseIDSpan reads id's value: an id, a comparison with one, or a range
// of two.
func parseIDSpan(v string) (Span, error) {
	return parseSpan(v, 1, func(s string) (int64, int64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, fmt.Errorf("%q is not an id (a positive whole number)", Clip(s, 40))
		}
		return n, n, nil
	})
}

// parseTimeSpan reads created's value: a date or time (all of the day,
// minute or second it names), a comparison with one, or a range of two;
// the span is in microseconds since the Unix epoch.
func parseTimeSpan(v string, loc *time.Location) (Span, error) {
	return parseSpan(v, -maxSpan, func(s string) (int64, int64, error) {
		start, err := parseInstant(s, loc, false)
		if err != nil {
			return 0, 0, fmt.Errorf("%q is not a date (2026-11-26), a time (2026-11-26T09:14) or an RFC 3339 time", Clip(s, 40))
		}
		end, err := parseInstant(s, loc, true)
		if err != nil {
			return 0, 0, err
		}
		return start.UnixMicro(), end.UnixMicro(), nil
	})
}

const maxSpan = int64(1<<63 - 1)

// parseSpan reads a value that names a point (whose first and last
// values point returns), a comparison (>, >=, <, <=) with one, or an
// inclusive range of two (a..b); least is the least value there is.
func parseSpan(v string, least int64, point func(string) (first, last int64, err error)) (Span, error) {
	if lo, hi, ok := strings.Cut(v, ".."); ok {
		a, _, err := point(lo)
		if err != nil {
			return Span{}, err
		}
		_, b, err := point(hi)
		if err != nil {
			return Span{}, err
		}
		if b < a {
			return Span{}, fmt.Errorf("the range ends before it starts")
		}
		return Span{a, b}, nil
	}
	op, rest := comparison(v)
	first, last, err := point(rest)
	if err != nil {
		return Span{}, err
	}
	switch op {
	case ">":
		return Span{last + 1, maxSpan}, nil
	case ">=":
		return Span{first, maxSpan}, nil
	case "<":
		return Span{least, first - 1}, nil
	case "<=":
		return Span{least, last}, nil
	}
	return Span{first, last}, nil
}

// comparison splits a leading >, >=, < or <= off v.
func comparison(v string) (op, rest string) {
	for _, op := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(v, op) {
			return op, v[len(op):]
		}
	}
	return "", v
}

// Resolve fills in the system names each activity term stands for among
// types: a value is a system name or a display name (either in any case),
// or with a trailing "*" a prefix of one. A value that stands for no type
// is an error of field q; the terms are resolved all the same.
func (s *Search) Resolve(types []ActivityType) error {
	var err error
	for i := range s.Terms {
		t := &s.Terms[i]
		if t.Field != SearchActivity {
			continue
		}
		t.Names = t.Names[:0]
		for _, v := range t.Values {
			found := false
			for _, at := range types {
				if activityNameMatches(v, at.SystemName, at.DisplayName) {
					found = true
					if !slices.Contains(t.Names, at.SystemName) {
						t.Names = append(t.Names, at.SystemName)
					}
				}
			}
			if !found && err == nil {
				err = badTerm("activity:"+v, "there is no such activity type: GET /api/v1/activity-types lists them")
			}
		}
		slices.Sort(t.Names)
	}
	return err
}

// activityNameMatches reports whether v (a name, or a prefix ending in
// "*") stands for the type of these names.
func activityNameMatches(v, systemName, displayName string) bool {
	if prefix, ok := strings.CutSuffix(v, "*"); ok {
		return hasFoldPrefix(systemName, prefix) || hasFoldPrefix(displayName, prefix)
	}
	return strings.EqualFold(v, systemName) || strings.EqualFold(v, displayName)
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
