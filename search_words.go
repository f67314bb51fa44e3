package auditlog

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// The words of search: one tokenizer for what the index holds and for
// what a search asks, so that both stores and the brute-force matcher
// agree on what a word is.
//
// A word is a maximal run of letters and digits, after compatibility
// decomposition (NFKD: "ﬁ" is "fi", full-width letters are ASCII), with
// diacritics dropped ("é" is "e") and lower-cased. Words longer than
// MaxWordBytes are cut there.

// MaxWordBytes bounds one word of the index.
const MaxWordBytes = 100

// searchGap separates the fields of a document in the index, so that a
// phrase never runs from one field into the next. No word is ever "_".
const searchGap = "_"

// Prefixes of the index's qualified words: each begins with "_", which no
// word holds, so a word never matches one.
const (
	objectWordPrefix = "_o_"
	extraWordPrefix  = "_e"
	columnWordPrefix = "_c"
	oldWordPrefix    = "_old_"
	newWordPrefix    = "_new_"
)

var folders = sync.Pool{New: func() any {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)))
}}

// Words returns the words of s, as the index holds them.
func Words(s string) []string {
	return appendWords(nil, s)
}

func appendWords(out []string, s string) []string {
	if !isASCII(s) {
		t := folders.Get().(transform.Transformer)
		if folded, _, err := transform.String(t, s); err == nil {
			s = folded
		}
		t.Reset()
		folders.Put(t)
	}
	start := -1
	flush := func(end int) {
		if start >= 0 {
			w := strings.ToLower(s[start:end])
			if len(w) > MaxWordBytes {
				cut := MaxWordBytes
				for cut > 0 && !utf8.RuneStart(w[cut]) {
					cut--
				}
				w = w[:cut]
			}
			out = append(out, w)
			start = -1
		}
	}
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FacetWord is the index's word for an exact value of a field that the
// activities table also holds: the activity's system name, the operator,
// the username, the object's type and id, the recorder. A store that
// intersects its index rather than its B-trees asks for these words (its
// conditions on the columns still decide: a word stands for its value's
// hash).
func FacetWord(field SearchField, value string) string {
	return nameWord(facetPrefixes[field], value)
}

// ObjectFacetWord is the index's word for an object, its type and its id
// together: the few activities of one object are one list of the index,
// where the lists of its type and of its id (which objects of other types
// share) are long. Neither holds a control character, so the two are
// joined by NUL without ambiguity.
func ObjectFacetWord(objectType, objectID string) string {
	return nameWord(objectFacetPrefix, objectType+"\x00"+objectID)
}

const objectFacetPrefix = "_o"

var facetPrefixes = map[SearchField]string{
	SearchActivity: "_a", SearchOperator: "_p", SearchUsername: "_u",
	SearchObjectType: "_t", SearchObjectID: "_i", SearchRecordedBy: "_r",
}

// nameWord is the one word of the index that stands for an exact name (a
// column name, an extra key's path), under prefix. Stored indexes hold
// these words: another hash would need every index built again.
func nameWord(prefix, name string) string {
	// FNV-1a, 64 bits, as hash/fnv's New64a, without its allocations.
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	var buf [32]byte
	return string(strconv.AppendUint(append(buf[:0], prefix...), h, 36))
}

func prefixed(prefix string, words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = prefix + w
	}
	return out
}

// A SearchDocument is what the full-text index holds of one activity: the
// words of the activity, and those of each row of its column changes
// apart, so that a search can ask for one row.
type SearchDocument struct {
	// Words are, field by field with a gap between fields: the free
	// text's words (display names, username, object name, extra values,
	// the changes' values), then the object name's words and each extra
	// value's words, qualified.
	Words []string
	// Rows are the words of each row of object_column_changes: its column
	// name, its old value's words and its new value's, each qualified.
	Rows [][]string
	// Facets are the activity's FacetWords, for a store that keeps them.
	Facets []string
}

// NewSearchDocument returns the index's document of a. Each field's
// words are read once, into the one slice that holds them all.
func NewSearchDocument(a *Activity) SearchDocument {
	size := len(a.DisplayName) + len(a.SubtypeDisplayName) + len(a.Username) + 2*len(a.ObjectName) + 2*len(a.Extra)
	for _, c := range a.Changes {
		size += len(c.OldValue) + len(c.NewValue)
	}
	d := SearchDocument{Words: make([]string, 0, 8+size/4)}
	// text appends the words of s as a field and returns them.
	text := func(s string) []string {
		n := len(d.Words)
		if d.Words = appendWords(d.Words, s); len(d.Words) == n {
			return nil
		}
		words := d.Words[n:len(d.Words):len(d.Words)]
		d.Words = append(d.Words, searchGap)
		return words
	}
	qualified := func(out []string, prefix string, words []string) []string {
		for _, w := range words {
			out = append(out, prefix+w)
		}
		return out
	}
	field := func(prefix string, words []string) {
		if len(words) > 0 {
			d.Words = append(qualified(d.Words, prefix, words), searchGap)
		}
	}
	text(a.DisplayName)
	text(a.SubtypeDisplayName)
	text(a.Username)
	object := text(a.ObjectName)
	values := extraValues(a.Extra)
	valueWords := make([][]string, len(values))
	for i, v := range values {
		valueWords[i] = text(v.text)
	}
	changeWords := make([][2][]string, len(a.Changes))
	for i, c := range a.Changes {
		changeWords[i] = [2][]string{text(c.OldValue), text(c.NewValue)}
	}
	field(objectWordPrefix, object)
	for i, v := range values {
		field(nameWord(extraWordPrefix, v.path)+"_", valueWords[i])
	}
	d.Rows = make([][]string, len(a.Changes))
	for i, c := range a.Changes {
		old, new := changeWords[i][0], changeWords[i][1]
		row := append(make([]string, 0, 3+len(old)+len(new)), nameWord(columnWordPrefix, c.ColumnName), searchGap)
		row = append(qualified(row, oldWordPrefix, old), searchGap)
		d.Rows[i] = qualified(row, newWordPrefix, new)
	}
	d.Facets = append(make([]string, 0, 7), FacetWord(SearchActivity, a.SystemName), FacetWord(SearchOperator, string(a.Operator)))
	for _, f := range []struct {
		field SearchField
		value string
	}{{SearchUsername, a.Username}, {SearchObjectType, a.ObjectType}, {SearchObjectID, a.ObjectID}, {SearchRecordedBy, string(a.RecordedBy)}} {
		if f.value != "" {
			d.Facets = append(d.Facets, FacetWord(f.field, f.value))
		}
	}
	if a.ObjectType != "" && a.ObjectID != "" {
		d.Facets = append(d.Facets, ObjectFacetWord(a.ObjectType, a.ObjectID))
	}
	return d
}

// extraValue is one value of extra that is not an object or an array: its
// text, and the dotted path of keys that leads to it (an array's elements
// share the array's path).
type extraValue struct{ path, text string }

// extraValues lists the values of extra, by path in key order.
func extraValues(extra json.RawMessage) []extraValue {
	if len(extra) == 0 {
		return nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(extra))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil
	}
	var out []extraValue
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, v[k])
			}
		case []any:
			for _, e := range v {
				walk(path, e)
			}
		case string:
			out = append(out, extraValue{path, v})
		case json.Number:
			out = append(out, extraValue{path, v.String()})
		case bool:
			out = append(out, extraValue{path, strconv.FormatBool(v)})
		}
	}
	walk("", v)
	return out
}
