package tlog

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
)

// LeafTemplate is an activity's leaf data with the id and the creation time
// left open. Making it costs what LeafData costs (the RFC 8785
// canonicalisation); filling it in costs a copy and a SHA-256. A store can
// thus make the template while it validates a request, in parallel with
// other requests, and leave only the cheap part to its single writer, which
// assigns ids and times.
type LeafTemplate struct {
	head, mid, tail []byte
}

// The values the template is made with, to be cut out again. In canonical
// form the keys are sorted: four activity_* strings, created, extra, id,
// then object_column_changes and the remaining strings. The first
// `"created":"1970-01-01T00:00:00.000000Z"` is therefore the top-level key
// (only strings come before it, and a string cannot hold an unescaped
// quote), and so is the last `,"id":1,"object_column_changes":` (only
// strings follow it).
var (
	templateCreated = time.Unix(0, 0).UTC()
	createdKey      = []byte(`"created":"`)
	createdMark     = []byte(`"created":"` + templateCreated.Format(auditlog.CreatedLayout) + `"`)
	idKey           = []byte(`,"id":`)
	idMark          = []byte(`,"id":1,"object_column_changes":`)
)

// NewLeafTemplate returns the template of a's leaf; a.ID and a.Created are
// ignored.
func NewLeafTemplate(a auditlog.Activity) (*LeafTemplate, error) {
	a.ID, a.Created = 1, templateCreated
	data, err := LeafData(&a)
	if err != nil {
		return nil, fmt.Errorf("leaf template: %w", err)
	}
	c := bytes.Index(data, createdMark)
	i := bytes.LastIndex(data, idMark)
	if c < 0 || i < c+len(createdMark) {
		return nil, fmt.Errorf("leaf template: unexpected leaf layout %.120q", data)
	}
	return &LeafTemplate{
		head: data[:c+len(createdKey)],
		mid:  data[c+len(createdMark)-1 : i+len(idKey)], // `","extra":{...},"id":`
		tail: data[i+len(idKey)+1:],                     // after the 1
	}, nil
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
