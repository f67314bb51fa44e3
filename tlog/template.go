package tlog

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auditlog/auditlog"
)

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
// auditlog.NewActivity.Normalize leaves it) or empty, and its text valid
// UTF-8 (as Normalize checks).
//
// The leaf is written in canonical form directly: the 13 keys in the order
// RFC 8785 sorts them, strings escaped as it escapes them, extra as it is.
// Canonicalising the whole leaf again, as LeafData does, would cost more
// than everything else of recording an activity together.
func NewLeafTemplate(a auditlog.Activity) (*LeafTemplate, error) {
	for _, s := range []string{a.DisplayName, a.SubtypeDisplayName, a.SubtypeSystemName, a.SystemName,
		a.ObjectID, a.ObjectName, a.ObjectType, string(a.Operator), a.Username} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("leaf template: text is not valid UTF-8: %.40q", s)
		}
	}
	t := &LeafTemplate{}
	h := make([]byte, 0, 256)
	h = appendKey(h, '{', "activity_display_name", a.DisplayName)
	h = appendKey(h, ',', "activity_subtype_display_name", a.SubtypeDisplayName)
	h = appendKey(h, ',', "activity_subtype_system_name", a.SubtypeSystemName)
	h = appendKey(h, ',', "activity_system_name", a.SystemName)
	t.head = append(h, `,"created":"`...)

	extra := a.Extra
	if len(extra) == 0 {
		extra = []byte("{}")
	}
	m := make([]byte, 0, len(extra)+24)
	m = append(m, `","extra":`...)
	m = append(m, extra...)
	t.mid = append(m, `,"id":`...)

	tail := make([]byte, 0, 256)
	tail = append(tail, `,"object_column_changes":[`...)
	for i, c := range a.Changes {
		for _, s := range []string{c.ColumnName, c.NewValue, c.OldValue} {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("leaf template: text is not valid UTF-8: %.40q", s)
			}
		}
		if i > 0 {
			tail = append(tail, ',')
		}
		tail = appendKey(tail, '{', "column_name", c.ColumnName)
		tail = appendKey(tail, ',', "new_value", c.NewValue)
		tail = appendKey(tail, ',', "old_value", c.OldValue)
		tail = append(tail, '}')
	}
	tail = append(tail, ']')
	tail = appendKey(tail, ',', "object_id", a.ObjectID)
	tail = appendKey(tail, ',', "object_name", a.ObjectName)
	tail = appendKey(tail, ',', "object_type", a.ObjectType)
	tail = appendKey(tail, ',', "operator", string(a.Operator))
	tail = appendKey(tail, ',', "username", a.Username)
	t.tail = append(tail, '}')
	return t, nil
}

// appendKey appends sep, the key and the string value, in canonical form.
func appendKey(buf []byte, sep byte, key, value string) []byte {
	buf = append(buf, sep, '"')
	buf = append(buf, key...)
	buf = append(buf, '"', ':')
	return appendCanonicalString(buf, value)
}

// appendCanonicalString appends s as RFC 8785 writes a string: quotes and
// backslashes escaped, the control characters with a short escape
// (\b \t \n \f \r) written so, the others as \u00xx in lower case,
// and every other character as it is.
func appendCanonicalString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// LeafHash returns the leaf hash of the activity with the given id and
// creation time: the same as ActivityLeafHash of the whole activity.
func (t *LeafTemplate) LeafHash(id int64, created time.Time) []byte {
	buf := make([]byte, 0, 1+len(t.head)+len(auditlog.CreatedLayout)+len(t.mid)+20+len(t.tail))
	buf = append(buf, 0) // RFC 6962 leaf prefix
	buf = append(buf, t.head...)
	buf = created.UTC().AppendFormat(buf, auditlog.CreatedLayout)
	buf = append(buf, t.mid...)
	buf = strconv.AppendInt(buf, id, 10)
	buf = append(buf, t.tail...)
	sum := sha256.Sum256(buf)
	return sum[:]
}
