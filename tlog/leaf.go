package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/auditlog/auditlog"
)

// The one encoder of leaves: the writer, every verifier and the proofs the
// API serves all build an activity's leaf with NewLeafTemplate. The leaf is
// the RFC 8785 canonical JSON of the 14 keys the detail endpoint returns
// (13, without recorded_by, for an activity recorded before provenance was
// kept); the tests hold this encoder to that form (the activity's API JSON
// run through the jcs package), byte for byte.

// LeafTemplate is an activity's leaf data with the id and the creation time
// left open; filling them in costs a copy and a SHA-256. A store makes the
// template while it validates a request, in parallel with other requests,
// and leaves only the cheap part to its single writer, which assigns ids
// and times.
type LeafTemplate struct {
	head, mid, tail []byte
}

// NewLeafTemplate returns the template of a's leaf; a.ID and a.Created are
// ignored. a.Extra must be in RFC 8785 canonical form (as
// auditlog.NewActivity.Normalize leaves it) or empty.
//
// The leaf is put together in canonical form: the keys in the order RFC
// 8785 sorts them (fixed ASCII names), extra as Normalize canonicalised it,
// and each string as the jcs package writes it. Canonicalising the whole
// leaf's JSON instead would cost more than everything else of recording an
// activity.
func NewLeafTemplate(a auditlog.Activity) (*LeafTemplate, error) {
	w := &leafWriter{buf: make([]byte, 0, 512+len(a.Extra))}
	w.key('{', "activity_display_name", a.DisplayName)
	w.key(',', "activity_subtype_display_name", a.SubtypeDisplayName)
	w.key(',', "activity_subtype_system_name", a.SubtypeSystemName)
	w.key(',', "activity_system_name", a.SystemName)
	w.raw(`,"created":"`)
	head := len(w.buf)

	extra := []byte(a.Extra)
	if len(extra) == 0 {
		extra = []byte("{}")
	}
	w.raw(`","extra":`)
	w.buf = append(w.buf, extra...)
	w.raw(`,"id":`)
	mid := len(w.buf)

	w.raw(`,"object_column_changes":[`)
	for i, c := range a.Changes {
		if i > 0 {
			w.raw(",")
		}
		w.key('{', "column_name", c.ColumnName)
		w.key(',', "new_value", c.NewValue)
		w.key(',', "old_value", c.OldValue)
		w.raw("}")
	}
	w.raw("]")
	w.key(',', "object_id", a.ObjectID)
	w.key(',', "object_name", a.ObjectName)
	w.key(',', "object_type", a.ObjectType)
	w.key(',', "operator", string(a.Operator))
	if a.RecordedBy != "" {
		w.key(',', "recorded_by", string(a.RecordedBy))
	}
	w.key(',', "username", a.Username)
	w.raw("}")
	if w.err != nil {
		return nil, fmt.Errorf("leaf template: %w", w.err)
	}
	// One array holds the three parts: each ends at its own length, so
	// that nothing appended to one runs into the next.
	b := w.buf
	return &LeafTemplate{head: b[:head:head], mid: b[head:mid:mid], tail: b[mid:]}, nil
}

// MaxLeafBytes is the largest leaf: the largest entry of a C2SP tlog-tiles
// entry bundle, whose entries carry a 16-bit length.
const MaxLeafBytes = 65535

// MaxSize is the size of the template's leaf with the longest id there
// can be (19 digits) and a time in UTC: the leaf fits this with any id.
func (t *LeafTemplate) MaxSize() int {
	return len(t.head) + len("2006-01-02T15:04:05.000000Z") + len(t.mid) + 19 + len(t.tail)
}

// Equal reports whether t and u are the leaves of the same content: the
// activities differ at most in their ids and creation times.
func (t *LeafTemplate) Equal(u *LeafTemplate) bool {
	return bytes.Equal(t.head, u.head) && bytes.Equal(t.mid, u.mid) && bytes.Equal(t.tail, u.tail)
}

// leafWriter puts a leaf together; the first error sticks.
type leafWriter struct {
	buf []byte
	err error
}

func (w *leafWriter) raw(s string) { w.buf = append(w.buf, s...) }

// key writes sep, the key and the string value in canonical form.
func (w *leafWriter) key(sep byte, key, value string) {
	w.buf = append(w.buf, sep, '"')
	w.buf = append(w.buf, key...)
	w.buf = append(w.buf, '"', ':')
	if plain(value) {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, value...)
		w.buf = append(w.buf, '"')
		return
	}
	quoted, err := json.Marshal(value)
	if err == nil {
		quoted, err = jcs.Transform(quoted)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	w.buf = append(w.buf, quoted...)
}

// plain reports whether s is printable ASCII without quotes or backslashes:
// text that every JSON encoder, RFC 8785's included, writes as it is
// between two quotes. Any other text is left to the jcs package.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Data returns the leaf bytes of the activity with the given id and
// creation time.
func (t *LeafTemplate) Data(id int64, created time.Time) []byte {
	return t.AppendData(make([]byte, 0, t.dataSize()), id, created)
}

// LeafHash returns the leaf hash of the activity with the given id and
// creation time: SHA-256(0x00 ‖ Data(id, created)).
func (t *LeafTemplate) LeafHash(id int64, created time.Time) []byte {
	buf := make([]byte, 1, 1+t.dataSize())
	buf[0] = 0 // RFC 6962 leaf prefix
	sum := sha256.Sum256(t.AppendData(buf, id, created))
	return sum[:]
}

func (t *LeafTemplate) dataSize() int {
	return len(t.head) + len(auditlog.CreatedLayout) + len(t.mid) + 20 + len(t.tail)
}

// AppendData appends the leaf bytes of the activity with the given id and
// creation time to buf, for a caller that reuses its buffer from leaf to
// leaf.
func (t *LeafTemplate) AppendData(buf []byte, id int64, created time.Time) []byte {
	buf = append(buf, t.head...)
	buf = created.UTC().AppendFormat(buf, auditlog.CreatedLayout)
	buf = append(buf, t.mid...)
	buf = strconv.AppendInt(buf, id, 10)
	return append(buf, t.tail...)
}

// LeafData returns the bytes of an activity's leaf.
func LeafData(a *auditlog.Activity) ([]byte, error) {
	t, err := NewLeafTemplate(*a)
	if err != nil {
		return nil, fmt.Errorf("leaf of activity %d: %w", a.ID, err)
	}
	return t.Data(a.ID, a.Created), nil
}

// LeafHash returns SHA-256(0x00 ‖ data).
func LeafHash(data []byte) []byte { return hasher.HashLeaf(data) }

// ActivityLeafHash returns the leaf hash of an activity.
func ActivityLeafHash(a *auditlog.Activity) ([]byte, error) {
	t, err := NewLeafTemplate(*a)
	if err != nil {
		return nil, fmt.Errorf("leaf of activity %d: %w", a.ID, err)
	}
	return t.LeafHash(a.ID, a.Created), nil
}
