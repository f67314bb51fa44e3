// Package auditlog holds the domain of the audit log service: activities and
// their types, filters, users, permission groups, tokens and the error codes
// shared by every layer. It imports the standard library only; the stores,
// the HTTP API and the command line implement or use the interfaces here.
package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Operator says whether a human or the machine performed an activity.
type Operator string

// The two operators of the seed.
const (
	OperatorHuman   Operator = "human"
	OperatorMachine Operator = "machine"
)

// Valid reports whether o is one of the known operators.
func (o Operator) Valid() bool { return o == OperatorHuman || o == OperatorMachine }

// Change is one row of an activity's Object Column Changes table.
type Change struct {
	ColumnName string `json:"column_name"`
	OldValue   string `json:"old_value"`
	NewValue   string `json:"new_value"`
}

// Activity is a recorded activity with every field of the seed and who
// recorded it. Its JSON form is the contract's "Activity (as returned)" and
// has exactly the 14 keys that make up a tamper-evidence leaf (13 for an
// activity recorded before provenance was kept, whose RecordedBy is "").
type Activity struct {
	ID                 int64
	Created            time.Time
	Operator           Operator
	Username           string
	DisplayName        string
	SystemName         string
	SubtypeDisplayName string
	SubtypeSystemName  string
	// Extra is a JSON object in RFC 8785 canonical form; never empty ("{}" at least).
	Extra      json.RawMessage
	ObjectID   string
	ObjectType string
	ObjectName string
	Changes    []Change
	// RecordedBy is who recorded the activity (see Recorder); "" only for
	// activities recorded before provenance was kept.
	RecordedBy Recorder
}

// A Recorder is who records activities, set by the service and never by a
// client: an activity's recorded_by. Event ids are de-duplicated per
// recorder.
type Recorder string

// Recorders other than tokens and users.
const (
	// RecordedByService is the service itself: logins, administrative
	// changes, exports, and what its command line records.
	RecordedByService Recorder = "auditlog"
	// RecordedByDemo is the sample data of `auditlog demo`.
	RecordedByDemo Recorder = "demo"
)

// TokenRecorder is the recorder of the API token with the given id: "token/3".
func TokenRecorder(id int64) Recorder { return Recorder("token/" + strconv.FormatInt(id, 10)) }

// UserRecorder is the recorder of a user who records through the API with
// a session: "user/jdoe".
func UserRecorder(username string) Recorder { return Recorder("user/" + username) }

// Retain returns a copy of a that outlives a StreamActivities callback:
// the slices a shares with the store (extra, changes) are copied, extra by
// appending it to arena, which is returned (strings are immutable and
// shared as they are). Batching many activities into one arena saves an
// allocation per activity.
func (a *Activity) Retain(arena []byte) (Activity, []byte) {
	c := *a
	start := len(arena)
	arena = append(arena, a.Extra...)
	c.Extra = arena[start:len(arena):len(arena)]
	if len(a.Changes) > 0 {
		c.Changes = append([]Change(nil), a.Changes...)
	}
	return c, arena
}

// CreatedLayout is how Created is written: RFC 3339 in UTC with microseconds.
const CreatedLayout = "2006-01-02T15:04:05.000000Z07:00"

type activityJSON struct {
	ID                 int64           `json:"id"`
	Created            string          `json:"created"`
	Operator           Operator        `json:"operator"`
	Username           string          `json:"username"`
	DisplayName        string          `json:"activity_display_name"`
	SystemName         string          `json:"activity_system_name"`
	SubtypeDisplayName string          `json:"activity_subtype_display_name"`
	SubtypeSystemName  string          `json:"activity_subtype_system_name"`
	Extra              json.RawMessage `json:"extra"`
	ObjectID           string          `json:"object_id"`
	ObjectType         string          `json:"object_type"`
	ObjectName         string          `json:"object_name"`
	Changes            []Change        `json:"object_column_changes"`
	RecordedBy         Recorder        `json:"recorded_by,omitempty"`
}

// MarshalJSON writes the contract's form: created in UTC with microseconds,
// absent text as "", absent extra as {}, absent changes as []; recorded_by
// is left out only for an activity recorded before provenance was kept, as
// its leaf leaves it out.
func (a Activity) MarshalJSON() ([]byte, error) {
	extra := a.Extra
	if len(extra) == 0 {
		extra = json.RawMessage("{}")
	}
	changes := a.Changes
	if changes == nil {
		changes = []Change{}
	}
	return EncodeJSON(activityJSON{
		ID:                 a.ID,
		Created:            a.Created.UTC().Format(CreatedLayout),
		Operator:           a.Operator,
		Username:           a.Username,
		DisplayName:        a.DisplayName,
		SystemName:         a.SystemName,
		SubtypeDisplayName: a.SubtypeDisplayName,
		SubtypeSystemName:  a.SubtypeSystemName,
		Extra:              extra,
		ObjectID:           a.ObjectID,
		ObjectType:         a.ObjectType,
		ObjectName:         a.ObjectName,
		Changes:            changes,
		RecordedBy:         a.RecordedBy,
	})
}

// EncodeJSON is json.Marshal without HTML escaping: activities are shown as
// their stored, canonical text ("<" and "&" stay as they are), which is safe
// in the JSON and CSV bodies the service serves with their own content types.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads the form written by MarshalJSON (used by clients and tests).
func (a *Activity) UnmarshalJSON(data []byte) error {
	var v activityJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	created, err := time.Parse(time.RFC3339Nano, v.Created)
	if err != nil {
		return err
	}
	*a = Activity{
		ID: v.ID, Created: created, Operator: v.Operator, Username: v.Username,
		DisplayName: v.DisplayName, SystemName: v.SystemName,
		SubtypeDisplayName: v.SubtypeDisplayName, SubtypeSystemName: v.SubtypeSystemName,
		Extra: v.Extra, ObjectID: v.ObjectID, ObjectType: v.ObjectType, ObjectName: v.ObjectName,
		Changes: v.Changes, RecordedBy: v.RecordedBy,
	}
	return nil
}

// NewActivity is an activity as a client sends it to be recorded. The server
// assigns the ID and the creation time and takes display names from the
// catalogue.
type NewActivity struct {
	SystemName        string          `json:"activity_system_name"`
	SubtypeSystemName string          `json:"activity_subtype_system_name"`
	Operator          Operator        `json:"operator"`
	Username          string          `json:"username"`
	Extra             json.RawMessage `json:"extra"`
	ObjectID          string          `json:"object_id"`
	ObjectType        string          `json:"object_type"`
	ObjectName        string          `json:"object_name"`
	Changes           []Change        `json:"object_column_changes"`
	// EventID is an optional client-chosen UUID that makes recording idempotent.
	EventID string `json:"event_id"`
}

// Subtype is one way of completing an activity type.
type Subtype struct {
	SystemName  string `json:"system_name"`
	DisplayName string `json:"display_name"`
}

// ActivityType is an entry of the activity catalogue.
type ActivityType struct {
	SystemName   string    `json:"system_name"`
	DisplayName  string    `json:"display_name"`
	Description  string    `json:"description"`
	IntroducedIn string    `json:"introduced_in"`
	Subtypes     []Subtype `json:"subtypes"`
	// Custom is true for types registered by an installation, false for the seed's.
	Custom bool `json:"custom"`
}

// SubtypesNamed are subtypes with the display names of a comma-separated
// list, their system names left to be derived: "By Rule, Manually".
func SubtypesNamed(list string) []Subtype {
	var subs []Subtype
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			subs = append(subs, Subtype{DisplayName: name})
		}
	}
	return subs
}

// Subtype returns the subtype with the given system name.
func (t *ActivityType) Subtype(systemName string) (Subtype, bool) {
	for _, s := range t.Subtypes {
		if s.SystemName == systemName {
			return s, true
		}
	}
	return Subtype{}, false
}

// ActivityService records and finds activities.
type ActivityService interface {
	// RecordActivities validates and records the activities as recorded by
	// by, as one all-or-nothing unit, and returns their IDs in order. It
	// returns only once they are durable. An activity whose EventID the same
	// recorder recorded before with the same content is not recorded again:
	// the earlier ID is returned for it; with other content it is an
	// ECONFLICT naming event_id, and nothing of the unit is recorded.
	RecordActivities(ctx context.Context, by Recorder, activities []NewActivity) ([]int64, error)
	// FindActivities returns the activities matching f, newest first, and
	// whether more match beyond f.Limit.
	FindActivities(ctx context.Context, f Filter) (activities []Activity, more bool, err error)
	// StreamActivities calls fn with every activity matching f (f.Limit and
	// f.BeforeID included), newest first, from one consistent snapshot: what
	// is recorded meanwhile does not appear. It stops at the first error of
	// fn or when ctx ends. fn must not keep the activity after it returns.
	StreamActivities(ctx context.Context, f Filter, fn func(*Activity) error) error
	// FindActivityByID returns one activity, or an ENOTFOUND error.
	FindActivityByID(ctx context.Context, id int64) (*Activity, error)
	// CountActivitiesOverTime counts the activities matching f (its
	// BeforeID, Limit and OldestFirst are ignored) created in each interval
	// [bounds[i], bounds[i+1]), by operator: it returns len(bounds)-1
	// counts. bounds must strictly increase; fewer than two bounds count
	// nothing.
	CountActivitiesOverTime(ctx context.Context, f Filter, bounds []time.Time) ([]OperatorCounts, error)
	// CountActivities counts the activities matching f after f.AfterID
	// (its other paging fields are ignored).
	CountActivities(ctx context.Context, f Filter) (int64, error)
	// SearchIndexed says how far the full-text index is: a search finds
	// the activities up to its Through.
	SearchIndexed(ctx context.Context) (SearchIndexState, error)
}

// SearchIndexState is how far the full-text index is behind the log.
type SearchIndexState struct {
	// Through is the id up to which the index holds every activity.
	Through int64 `json:"through"`
	// Newest is the id of the newest activity.
	Newest int64 `json:"newest"`
}

// Complete reports whether the index holds every activity.
func (s SearchIndexState) Complete() bool { return s.Through >= s.Newest }

// OperatorCounts counts activities by operator.
type OperatorCounts struct {
	Human, Machine int64
}

// Total is the number of activities of both operators.
func (c OperatorCounts) Total() int64 { return c.Human + c.Machine }

// Add counts n more activities of operator op.
func (c *OperatorCounts) Add(op Operator, n int64) {
	if op == OperatorHuman {
		c.Human += n
	} else {
		c.Machine += n
	}
}

// ActivityTypeService holds the catalogue: the seed's types and custom ones.
type ActivityTypeService interface {
	// ActivityTypes lists every type, the seed's and the custom ones, by display name.
	ActivityTypes(ctx context.Context) ([]ActivityType, error)
	// LookupActivityType returns the type of a system name, nil when the
	// catalogue has none.
	LookupActivityType(ctx context.Context, systemName string) (*ActivityType, error)
	// CreateActivityType registers a custom type, recorded as by's action;
	// ECONFLICT when the system name is taken.
	CreateActivityType(ctx context.Context, by Actor, t ActivityType) (*ActivityType, error)
}
