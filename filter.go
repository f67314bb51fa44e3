package auditlog

import (
	"encoding/base64"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Paging limits of the list endpoint.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	// MaxFilterValues bounds how often one filter parameter may repeat.
	MaxFilterValues = 100
)

// Filter selects activities. Fields combine with AND; the values of one
// field combine with OR. Zero values select everything.
type Filter struct {
	Activities  []string   // activity system names
	Operators   []Operator // human, machine
	Usernames   []string
	IDs         []int64
	ObjectTypes []string
	ObjectIDs   []string
	// CreatedFrom and CreatedTo bound the creation time, both inclusive;
	// a zero time leaves that end open.
	CreatedFrom time.Time
	CreatedTo   time.Time
	// BeforeID keeps only activities with a smaller ID (keyset paging); 0 disables it.
	BeforeID int64
	// AfterID keeps only activities with a larger ID; 0 disables it.
	AfterID int64
	// Limit is the page size; 0 means no limit (exports).
	Limit int
	// OldestFirst lists in recording order instead of newest first.
	OldestFirst bool
	// Zone is the time zone the dates were read in, and in which exports
	// show times; nil means UTC.
	Zone *time.Location
	// Search is the search expression q, nil when there is none.
	Search *Search
}

// Location returns f.Zone, or UTC when it is unset.
func (f Filter) Location() *time.Location {
	if f.Zone == nil {
		return time.UTC
	}
	return f.Zone
}

// IsZero reports whether f selects every activity (paging aside).
func (f Filter) IsZero() bool {
	return len(f.Activities) == 0 && len(f.Operators) == 0 && len(f.Usernames) == 0 &&
		len(f.IDs) == 0 && len(f.ObjectTypes) == 0 && len(f.ObjectIDs) == 0 &&
		f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() && f.Search == nil
}

// FilterParams are the query parameters that select activities, shared by
// the list endpoint, the exports and the web UI.
var FilterParams = []string{"activity", "operator", "username", "id", "object_type", "object_id", "created_on", "created_from", "created_to", "tz", "q"}

// PagingParams are the query parameters of the list endpoint beyond the filters.
var PagingParams = []string{"limit", "cursor"}

// ParseFilter reads a Filter from query parameters. allowed names the
// parameters accepted besides the filters (for example PagingParams); any
// other parameter is refused, so that a misspelt filter never silently
// selects everything.
func ParseFilter(q url.Values, allowed ...string) (Filter, error) {
	var f Filter
	known := map[string]bool{}
	for _, p := range FilterParams {
		known[p] = true
	}
	for _, p := range allowed {
		known[p] = true
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !known[name] {
			return f, FieldErrorf(name, "unknown query parameter %q", truncate(name, 40))
		}
		if len(q[name]) > MaxFilterValues {
			return f, FieldErrorf(name, "%s is given %d times; the limit is %d", name, len(q[name]), MaxFilterValues)
		}
	}

	loc := time.UTC
	if tz, err := single(q, "tz"); err != nil {
		return f, err
	} else if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
			return f, FieldErrorf("tz", "tz must be an IANA time zone such as Europe/Berlin, not %q", truncate(tz, 40))
		}
		loc = l
		f.Zone = l
	}

	if v, err := single(q, "q"); err != nil {
		return f, err
	} else if strings.TrimSpace(v) != "" {
		if f.Search, err = ParseSearch(v, loc); err != nil {
			return f, err
		}
	}

	texts := []struct {
		param string
		dst   *[]string
		max   int
	}{
		{"activity", &f.Activities, MaxSystemNameLen},
		{"username", &f.Usernames, MaxUsernameLen},
		{"object_type", &f.ObjectTypes, MaxObjectTypeLen},
		{"object_id", &f.ObjectIDs, MaxObjectIDLen},
	}
	for _, t := range texts {
		for _, v := range q[t.param] {
			if v == "" {
				continue
			}
			if msg := CheckText(v, t.max, Identifier); msg != "" {
				return f, FieldErrorf(t.param, "%s %s", t.param, msg)
			}
			*t.dst = append(*t.dst, v)
		}
	}
	for _, v := range q["operator"] {
		switch op := Operator(v); op {
		case OperatorHuman, OperatorMachine:
			f.Operators = append(f.Operators, op)
		case "":
		default:
			return f, FieldErrorf("operator", "operator must be human or machine, not %q", truncate(v, 40))
		}
	}
	for _, v := range q["id"] {
		if v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, FieldErrorf("id", "id must be a positive whole number, not %q", truncate(v, 40))
		}
		f.IDs = append(f.IDs, id)
	}

	on, err := single(q, "created_on")
	if err != nil {
		return f, err
	}
	if on != "" {
		day, err := time.ParseInLocation(time.DateOnly, on, loc)
		if err != nil {
			return f, FieldErrorf("created_on", "created_on must be a date such as 2026-11-26, not %q", truncate(on, 40))
		}
		f.CreatedFrom, f.CreatedTo = day, endOfDay(day)
	}
	for _, end := range []struct {
		param string
		dst   *time.Time
		isEnd bool
	}{{"created_from", &f.CreatedFrom, false}, {"created_to", &f.CreatedTo, true}} {
		v, err := single(q, end.param)
		if err != nil {
			return f, err
		}
		if v == "" {
			continue
		}
		if on != "" {
			return f, FieldErrorf(end.param, "%s cannot be combined with created_on", end.param)
		}
		t, err := parseInstant(v, loc, end.isEnd)
		if err != nil {
			return f, FieldErrorf(end.param, "%s must be a date (2026-11-26), a time in the filter's time zone (2026-11-26T09:14) or an RFC 3339 time (2026-11-26T09:14:03Z), not %q", end.param, truncate(v, 40))
		}
		*end.dst = t
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && f.CreatedTo.Before(f.CreatedFrom) {
		return f, FieldErrorf("created_to", "created_to is before created_from")
	}
	return f, nil
}

// ParsePaging reads limit and cursor into f.
func ParsePaging(q url.Values, f *Filter) error {
	f.Limit = DefaultLimit
	if v, err := single(q, "limit"); err != nil {
		return err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return FieldErrorf("limit", "limit must be a whole number from 1 to %d, not %q", MaxLimit, truncate(v, 40))
		}
		f.Limit = n
	}
	if v, err := single(q, "cursor"); err != nil {
		return err
	} else if v != "" {
		id, err := DecodeCursor(v)
		if err != nil {
			return err
		}
		f.BeforeID = id
	}
	return nil
}

// CheckNames refuses a filter that names an activity type not among
// types, in activity (field activity) or in an activity: term of its
// search (field q), which it resolves: reading checks names as recording
// does, rather than answering that nothing matches a typo.
func (f Filter) CheckNames(types []ActivityType) error {
	for _, name := range f.Activities {
		if !slices.ContainsFunc(types, func(t ActivityType) bool { return t.SystemName == name }) {
			return FieldErrorf("activity", "there is no activity type %q: GET /api/v1/activity-types lists them", Clip(name, 80))
		}
	}
	if f.Search != nil {
		return f.Search.Resolve(types)
	}
	return nil
}

// Query writes f back as query parameters (without paging), the inverse of
// ParseFilter with times in RFC 3339.
func (f Filter) Query() url.Values {
	q := url.Values{}
	q["activity"] = append([]string(nil), f.Activities...)
	for _, o := range f.Operators {
		q.Add("operator", string(o))
	}
	q["username"] = append([]string(nil), f.Usernames...)
	for _, id := range f.IDs {
		q.Add("id", strconv.FormatInt(id, 10))
	}
	q["object_type"] = append([]string(nil), f.ObjectTypes...)
	q["object_id"] = append([]string(nil), f.ObjectIDs...)
	if !f.CreatedFrom.IsZero() {
		q.Set("created_from", f.CreatedFrom.UTC().Format(CreatedLayout))
	}
	if !f.CreatedTo.IsZero() {
		q.Set("created_to", f.CreatedTo.UTC().Format(CreatedLayout))
	}
	if f.Search != nil {
		// The expression's dates are read in the filter's zone.
		q.Set("q", f.Search.Expr)
		if f.Zone != nil {
			q.Set("tz", f.Zone.String())
		}
	}
	for k, v := range q {
		if len(v) == 0 {
			delete(q, k)
		}
	}
	return q
}

func single(q url.Values, name string) (string, error) {
	switch vs := q[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", FieldErrorf(name, "%s may be given only once", name)
	}
}

// parseInstant reads a date (the start of that day in loc, or the last
// microsecond of it when isEnd), a local time in loc without an offset
// (2026-11-26T09:14, with seconds and fractions or not, T or a space
// between; an end takes in the whole last minute or second it names), or
// an RFC 3339 timestamp.
func parseInstant(v string, loc *time.Location, isEnd bool) (time.Time, error) {
	if len(v) == len(time.DateOnly) {
		day, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err != nil {
			return time.Time{}, err
		}
		if isEnd {
			return endOfDay(day), nil
		}
		return day, nil
	}
	if len(v) > len(time.DateOnly) && v[len(time.DateOnly)] == ' ' {
		v = v[:len(time.DateOnly)] + "T" + v[len(time.DateOnly)+1:]
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, local := range []struct {
		layout string
		whole  time.Duration // what an end without a finer part takes in
	}{{"2006-01-02T15:04", time.Minute}, {"2006-01-02T15:04:05", time.Second}, {"2006-01-02T15:04:05.999999999", 0}} {
		t, err := time.ParseInLocation(local.layout, v, loc)
		if err != nil {
			continue
		}
		if isEnd && local.whole > 0 {
			t = t.Add(local.whole - time.Microsecond)
		}
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

// endOfDay returns the last microsecond of the day that starts at day.
func endOfDay(day time.Time) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, day.Location()).Add(-time.Microsecond)
}

const cursorPrefix = "c1:"

// EncodeCursor returns the opaque cursor that continues a listing after the
// activity with the given ID.
func EncodeCursor(lastID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(lastID, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (int64, error) {
	bad := FieldErrorf("cursor", "cursor is not one this server issued; start again without it")
	if len(s) > 64 {
		return 0, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return 0, bad
	}
	digits := strings.TrimPrefix(string(raw), cursorPrefix)
	id, err := strconv.ParseInt(digits, 10, 64)
	// Only the one text EncodeCursor writes is accepted: base64 decoding alone
	// also takes non-zero padding bits and line breaks ("YzE6OB" for "YzE6OA").
	if err != nil || id <= 0 || EncodeCursor(id) != s {
		return 0, bad
	}
	return id, nil
}
