// Package sqlstore holds what the SQL stores (sqlite/ and postgres/) share
// beyond their dialects: preparing activities for recording, and planning
// the query behind a filter.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// Pending is a validated activity with its catalogue names resolved, ready
// to be inserted once its store assigns the id and the creation time.
type Pending struct {
	auditlog.NewActivity
	DisplayName        string
	SubtypeDisplayName string
	// RecordedBy is who records the activity.
	RecordedBy auditlog.Recorder
	// ChangesJSON is object_column_changes as stored: a JSON array, "[]" when empty.
	ChangesJSON string
	// Leaf is the activity's leaf, canonicalised before it reaches the
	// store's writer; the writer fills in the id and the time.
	Leaf *tlog.LeafTemplate
}

// TypeLookup returns the built-in or custom activity type of a system name,
// or nil when there is none.
type TypeLookup func(ctx context.Context, systemName string) (*auditlog.ActivityType, error)

// Prepare checks each activity, resolves its catalogue names with lookup
// and makes its leaf template, as recorded by by. Any error names the
// activity's index and field; nothing is prepared then.
func Prepare(ctx context.Context, by auditlog.Recorder, activities []auditlog.NewActivity, lookup TypeLookup) ([]Pending, error) {
	if by == "" {
		return nil, auditlog.Errorf(auditlog.EINTERNAL, "activities recorded without a recorder")
	}
	if len(activities) == 0 {
		return nil, auditlog.FieldErrorf("activities", "at least one activity is required")
	}
	if len(activities) > auditlog.MaxBatch {
		return nil, auditlog.FieldErrorf("activities", "%d activities in one request; the limit is %d", len(activities), auditlog.MaxBatch)
	}
	pending := make([]Pending, len(activities))
	for i, a := range activities {
		if err := a.Normalize(i, jcs.Transform); err != nil {
			return nil, err
		}
		t, err := lookup(ctx, a.SystemName)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, auditlog.ValidationError(i, "activity_system_name", "unknown activity type %q; GET /api/v1/activity-types lists them", a.SystemName)
		}
		p := Pending{NewActivity: a, DisplayName: t.DisplayName, RecordedBy: by}
		if a.SubtypeSystemName != "" {
			s, ok := t.Subtype(a.SubtypeSystemName)
			if !ok {
				return nil, auditlog.ValidationError(i, "activity_subtype_system_name", "activity type %s has no subtype %q", t.SystemName, a.SubtypeSystemName)
			}
			p.SubtypeDisplayName = s.DisplayName
		}
		changes := a.Changes
		if changes == nil {
			changes = []auditlog.Change{}
		}
		b, err := json.Marshal(changes)
		if err != nil {
			return nil, err
		}
		p.ChangesJSON = string(b)
		// The leaf's canonical form (RFC 8785, the costly part of the leaf
		// hash) is made here, in the request's goroutine and in parallel
		// with other requests, rather than in the single writer: it only
		// fills in the id and the time and hashes.
		if p.Leaf, err = tlog.NewLeafTemplate(p.Activity()); err != nil {
			return nil, err
		}
		if n := p.Leaf.MaxSize(); n > tlog.MaxLeafBytes {
			return nil, &auditlog.Error{Code: auditlog.ETOOLARGE, Field: "activity", Index: i,
				Message: fmt.Sprintf("the activity's leaf would be %d bytes; the limit is %d bytes (the largest entry of a tlog-tiles entry bundle)", n, tlog.MaxLeafBytes)}
		}
		pending[i] = p
	}
	return pending, nil
}

// Activity is the activity as it will be stored and read back, but for the
// id and the creation time, which the writer assigns.
func (p *Pending) Activity() auditlog.Activity {
	return auditlog.Activity{
		Operator: p.Operator, Username: p.Username,
		DisplayName: p.DisplayName, SystemName: p.SystemName,
		SubtypeDisplayName: p.SubtypeDisplayName, SubtypeSystemName: p.SubtypeSystemName,
		Extra: p.Extra, ObjectID: p.ObjectID, ObjectType: p.ObjectType, ObjectName: p.ObjectName,
		Changes: p.Changes, RecordedBy: p.RecordedBy,
	}
}

// EventKey is the key of the activity's event id in the event-id index,
// "" when it has none: event ids are de-duplicated per recorder.
func (p *Pending) EventKey() string {
	if p.EventID == "" {
		return ""
	}
	return string(p.RecordedBy) + " " + p.EventID
}
