package auditlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin and friends on hosts without zoneinfo
)

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%q): %v", raw, err)
	}
	return q
}

// filterDiff describes how got differs from want, or returns "".
func filterDiff(got, want Filter) string {
	var diffs []string
	check := func(name string, equal bool, g, w any) {
		if !equal {
			diffs = append(diffs, name+": got "+fmtAny(g)+", want "+fmtAny(w))
		}
	}
	check("Activities", slices.Equal(got.Activities, want.Activities), got.Activities, want.Activities)
	check("Operators", slices.Equal(got.Operators, want.Operators), got.Operators, want.Operators)
	check("Usernames", slices.Equal(got.Usernames, want.Usernames), got.Usernames, want.Usernames)
	check("IDs", slices.Equal(got.IDs, want.IDs), got.IDs, want.IDs)
	check("ObjectTypes", slices.Equal(got.ObjectTypes, want.ObjectTypes), got.ObjectTypes, want.ObjectTypes)
	check("ObjectIDs", slices.Equal(got.ObjectIDs, want.ObjectIDs), got.ObjectIDs, want.ObjectIDs)
	check("CreatedFrom", got.CreatedFrom.Equal(want.CreatedFrom), got.CreatedFrom, want.CreatedFrom)
	check("CreatedTo", got.CreatedTo.Equal(want.CreatedTo), got.CreatedTo, want.CreatedTo)
	check("BeforeID", got.BeforeID == want.BeforeID, got.BeforeID, want.BeforeID)
	check("Limit", got.Limit == want.Limit, got.Limit, want.Limit)
	return strings.Join(diffs, "; ")
}

func fmtAny(v any) string {
	if t, ok := v.(time.Time); ok {
		if t.IsZero() {
			return "zero time"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%q", v)
}

func utc(y int, m time.Month, d, h, min, s, ns int) time.Time {
	return time.Date(y, m, d, h, min, s, ns, time.UTC)
}

func TestParseFilter(t *testing.T) {
	cases := []struct {
		name  string
		query string
		want  Filter
	}{
		{"no parameters select everything", "", Filter{}},
		{"a date as created_from starts at midnight UTC", "created_from=2026-11-20",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0)}},
		{"a date as created_to runs through the last microsecond of that day", "created_to=2026-11-20",
			Filter{CreatedTo: utc(2026, 11, 20, 23, 59, 59, 999999000)}},
		{"created_on covers one whole day", "created_on=2026-11-20",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 23, 59, 59, 999999000)}},
		{"a date range covers both whole days", "created_from=2026-11-20&created_to=2026-11-21",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0), CreatedTo: utc(2026, 11, 21, 23, 59, 59, 999999000)}},
		{"the same date at both ends is one day", "created_from=2026-11-20&created_to=2026-11-20",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 23, 59, 59, 999999000)}},
		{"created_on is read in tz", "created_on=2026-11-21&tz=Europe/Berlin",
			Filter{CreatedFrom: utc(2026, 11, 20, 23, 0, 0, 0), CreatedTo: utc(2026, 11, 21, 22, 59, 59, 999999000)}},
		{"created_from and created_to dates are read in tz", "created_from=2026-11-20&created_to=2026-11-20&tz=America/New_York",
			Filter{CreatedFrom: utc(2026, 11, 20, 5, 0, 0, 0), CreatedTo: utc(2026, 11, 21, 4, 59, 59, 999999000)}},
		{"a day on which summer time starts has 23 hours in tz", "created_on=2026-03-29&tz=Europe/Berlin",
			Filter{CreatedFrom: utc(2026, 3, 28, 23, 0, 0, 0), CreatedTo: utc(2026, 3, 29, 21, 59, 59, 999999000)}},
		{"a day on which summer time ends has 25 hours in tz", "created_on=2026-10-25&tz=Europe/Berlin",
			Filter{CreatedFrom: utc(2026, 10, 24, 22, 0, 0, 0), CreatedTo: utc(2026, 10, 25, 22, 59, 59, 999999000)}},
		{"tz=UTC is the default", "created_on=2026-11-20&tz=UTC",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 23, 59, 59, 999999000)}},
		{"an RFC 3339 timestamp is an exact instant", "created_from=2026-11-20T10:00:00Z&created_to=2026-11-20T11:30:00.5Z",
			Filter{CreatedFrom: utc(2026, 11, 20, 10, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 11, 30, 0, 500000000)}},
		{"a timestamp keeps its own offset whatever tz says", "created_from=2026-11-20T10:00:00%2B02:00&tz=America/New_York",
			Filter{CreatedFrom: utc(2026, 11, 20, 8, 0, 0, 0)}},
		{"a timestamp created_to is not extended to the end of its day", "created_to=2026-11-20T00:00:00Z",
			Filter{CreatedTo: utc(2026, 11, 20, 0, 0, 0, 0)}},
		{"a date and a timestamp combine", "created_from=2026-11-20T22:00:00Z&created_to=2026-11-21&tz=Europe/Berlin",
			Filter{CreatedFrom: utc(2026, 11, 20, 22, 0, 0, 0), CreatedTo: utc(2026, 11, 21, 22, 59, 59, 999999000)}},
		{"equal instants at both ends are allowed", "created_from=2026-11-20T10:00:00Z&created_to=2026-11-20T10:00:00Z",
			Filter{CreatedFrom: utc(2026, 11, 20, 10, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 10, 0, 0, 0)}},
		{"repeated values of each filter are kept in order", "activity=USER_LOGIN&activity=LOGIN_FAILED&operator=machine&operator=human" +
			"&username=bob&username=alice&id=7&id=3&object_type=User&object_type=Flow&object_id=3&object_id=1",
			Filter{Activities: []string{"USER_LOGIN", "LOGIN_FAILED"}, Operators: []Operator{OperatorMachine, OperatorHuman},
				Usernames: []string{"bob", "alice"}, IDs: []int64{7, 3}, ObjectTypes: []string{"User", "Flow"}, ObjectIDs: []string{"3", "1"}}},
		{"empty values are ignored", "activity=&operator=&username=&id=&object_type=&object_id=&created_on=&created_from=&created_to=&tz=",
			Filter{}},
		{"empty values among others are ignored", "activity=&activity=EDIT_USER&id=&id=5&operator=&operator=human",
			Filter{Activities: []string{"EDIT_USER"}, IDs: []int64{5}, Operators: []Operator{OperatorHuman}}},
		{"an empty tz is UTC", "created_on=2026-11-20&tz=",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0), CreatedTo: utc(2026, 11, 20, 23, 59, 59, 999999000)}},
		{"an empty created_on leaves created_from free", "created_on=&created_from=2026-11-20",
			Filter{CreatedFrom: utc(2026, 11, 20, 0, 0, 0, 0)}},
		{"text values are kept as given, blanks and case included", "username=%20Dave%20&object_id=%C3%BC",
			Filter{Usernames: []string{" Dave "}, ObjectIDs: []string{"ü"}}},
		{"a value repeated exactly 100 times is allowed", strings.Repeat("&object_id=1", 100)[1:],
			Filter{ObjectIDs: slices.Repeat([]string{"1"}, 100)}},
		{"the largest id is allowed", "id=9223372036854775807", Filter{IDs: []int64{9223372036854775807}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseFilter(mustQuery(t, c.query))
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", c.query, err)
			}
			if d := filterDiff(got, c.want); d != "" {
				t.Fatalf("ParseFilter(%q): %s", c.query, d)
			}
		})
	}
}

func TestParseFilterRefusesBadInput(t *testing.T) {
	cases := []struct {
		name    string
		query   string
		allowed []string
		field   string
		message string // a part of the message
	}{
		{"an unknown parameter", "colour=red", nil, "colour", `unknown query parameter "colour"`},
		{"a misspelt filter", "usernme=bob", nil, "usernme", "unknown query parameter"},
		{"paging parameters when not allowed", "limit=5", nil, "limit", "unknown query parameter"},
		{"a parameter of another endpoint", "format=csv", PagingParams, "format", "unknown query parameter"},
		{"a filter repeated over 100 times", strings.Repeat("&activity=EDIT_USER", 101)[1:], nil, "activity", "given 101 times; the limit is 100"},
		{"an operator that does not exist", "operator=robot", nil, "operator", `operator must be human or machine, not "robot"`},
		{"an operator in the wrong case", "operator=Human", nil, "operator", "human or machine"},
		{"a negative id", "id=-1", nil, "id", "positive whole number"},
		{"id zero", "id=0", nil, "id", "positive whole number"},
		{"an id that is not a number", "id=abc", nil, "id", `not "abc"`},
		{"an id over the int64 range", "id=9223372036854775808", nil, "id", "positive whole number"},
		{"an id with a fraction", "id=1.5", nil, "id", "positive whole number"},
		{"a month 13", "created_on=2026-13-01", nil, "created_on", "created_on must be a date such as 2026-11-26"},
		{"February 30", "created_on=2026-02-30", nil, "created_on", "must be a date"},
		{"a date without dashes", "created_on=20261120", nil, "created_on", "must be a date"},
		{"a timestamp as created_on", "created_on=2026-11-20T00:00:00Z", nil, "created_on", "must be a date"},
		{"created_on repeated", "created_on=2026-11-20&created_on=2026-11-21", nil, "created_on", "may be given only once"},
		{"a word as created_from", "created_from=yesterday", nil, "created_from", "a date (2026-11-26), a time in the filter's time zone (2026-11-26T09:14) or an RFC 3339 time"},
		{"an hour 25 in created_to", "created_to=2026-11-20T25:00:00Z", nil, "created_to", "RFC 3339"},
		{"a time with an hour out of range", "created_from=2026-11-20T25:00", nil, "created_from", "RFC 3339"},
		{"created_from repeated", "created_from=2026-11-20&created_from=2026-11-21", nil, "created_from", "only once"},
		{"created_on together with created_from", "created_on=2026-11-20&created_from=2026-11-19", nil, "created_from", "cannot be combined with created_on"},
		{"created_on together with created_to", "created_on=2026-11-20&created_to=2026-11-21", nil, "created_to", "cannot be combined with created_on"},
		{"created_to a day before created_from", "created_from=2026-11-21&created_to=2026-11-20", nil, "created_to", "created_to is before created_from"},
		{"created_to a microsecond before created_from", "created_from=2026-11-20T10:00:00.000001Z&created_to=2026-11-20T10:00:00Z", nil, "created_to", "before"},
		{"a date created_to before a timestamp created_from on the next day", "created_from=2026-11-21T00:00:00Z&created_to=2026-11-20", nil, "created_to", "before"},
		{"a zone that does not exist", "tz=Mars/Base", nil, "tz", `tz must be an IANA time zone such as Europe/Berlin, not "Mars/Base"`},
		{"the server's local zone", "tz=Local", nil, "tz", "IANA time zone"},
		{"a path as zone", "tz=/etc/localtime", nil, "tz", "IANA time zone"},
		{"a relative path as zone", "tz=../../etc/passwd", nil, "tz", "IANA time zone"},
		{"tz repeated", "tz=UTC&tz=Europe/Berlin", nil, "tz", "only once"},
		{"a control character in a username", "username=bo%01b", nil, "username", "control character"},
		{"NUL in an activity", "activity=EDIT%00USER", nil, "activity", "NUL"},
		{"invalid UTF-8 in an object id", "object_id=%FF", nil, "object_id", "not valid UTF-8"},
		{"an activity over 128 bytes", "activity=" + strings.Repeat("A", MaxSystemNameLen+1), nil, "activity", "the limit is 128"},
		{"a username over 256 bytes", "username=" + strings.Repeat("u", MaxUsernameLen+1), nil, "username", "the limit is 256"},
		{"an object type over 128 bytes", "object_type=" + strings.Repeat("t", MaxObjectTypeLen+1), nil, "object_type", "the limit is 128"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseFilter(mustQuery(t, c.query), c.allowed...)
			if err == nil {
				t.Fatalf("ParseFilter(%q) = %+v, want an error about %s", c.query, f, c.field)
			}
			assertError(t, err, EINVALID, c.field, c.message)
		})
	}
}

func assertError(t *testing.T, err error, code, field, message string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want *Error", err, err)
	}
	if e.Code != code || e.Field != field {
		t.Fatalf("got %s error on field %q (%s), want %s on %q", e.Code, e.Field, e.Message, code, field)
	}
	if e.Index != -1 {
		t.Errorf("query error has index %d, want -1", e.Index)
	}
	if !strings.Contains(e.Message, message) {
		t.Errorf("message %q does not contain %q", e.Message, message)
	}
}

func TestParsePaging(t *testing.T) {
	ok := []struct {
		name     string
		query    string
		limit    int
		beforeID int64
	}{
		{"no paging parameters give the default page from the newest", "", DefaultLimit, 0},
		{"limit 1 is the smallest page", "limit=1", 1, 0},
		{"limit 1000 is the largest page", "limit=1000", MaxLimit, 0},
		{"an empty limit is the default", "limit=", DefaultLimit, 0},
		{"a cursor continues before its id", "cursor=" + EncodeCursor(42), DefaultLimit, 42},
		{"a cursor and a limit combine", "limit=3&cursor=" + EncodeCursor(9223372036854775807), 3, 9223372036854775807},
		{"filters are left to ParseFilter", "activity=EDIT_USER&limit=7", 7, 0},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			var f Filter
			if err := ParsePaging(mustQuery(t, c.query), &f); err != nil {
				t.Fatalf("ParsePaging(%q): %v", c.query, err)
			}
			if f.Limit != c.limit || f.BeforeID != c.beforeID {
				t.Fatalf("ParsePaging(%q): limit %d, before %d; want %d, %d", c.query, f.Limit, f.BeforeID, c.limit, c.beforeID)
			}
		})
	}
	bad := []struct {
		name, query, field, message string
	}{
		{"limit 0", "limit=0", "limit", "limit must be a whole number from 1 to 1000"},
		{"limit 1001", "limit=1001", "limit", "from 1 to 1000"},
		{"a negative limit", "limit=-5", "limit", "from 1 to 1000"},
		{"a limit that is not a number", "limit=x", "limit", `not "x"`},
		{"a limit with a fraction", "limit=2.5", "limit", "whole number"},
		{"limit repeated", "limit=5&limit=6", "limit", "only once"},
		{"a cursor this server did not issue", "cursor=bad", "cursor", "cursor is not one this server issued"},
		{"a cursor of id 0", "cursor=" + EncodeCursor(0), "cursor", "not one this server issued"},
		{"a cursor of a negative id", "cursor=" + EncodeCursor(-3), "cursor", "not one this server issued"},
		{"cursor repeated", "cursor=" + EncodeCursor(5) + "&cursor=" + EncodeCursor(6), "cursor", "only once"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var f Filter
			err := ParsePaging(mustQuery(t, c.query), &f)
			if err == nil {
				t.Fatalf("ParsePaging(%q) = %+v, want an error", c.query, f)
			}
			assertError(t, err, EINVALID, c.field, c.message)
		})
	}
}

func TestCursor(t *testing.T) {
	for _, id := range []int64{1, 2, 9, 10, 42, 1 << 31, 1<<53 + 1, 9223372036854775807} {
		c := EncodeCursor(id)
		got, err := DecodeCursor(c)
		if err != nil || got != id {
			t.Errorf("DecodeCursor(EncodeCursor(%d)) = %d, %v", id, got, err)
		}
		if url.QueryEscape(c) != c {
			t.Errorf("cursor %q of %d needs escaping in a URL", c, id)
		}
	}
	// Texts that decode to "c1:<digits>" but are not what EncodeCursor writes.
	rawURL := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"", "c1", rawURL("c1:"), rawURL("c1:007"), rawURL("c1:+7"), rawURL("c1: 7"), rawURL("c2:7"), rawURL("c1:7x"),
		rawURL("c1:9223372036854775808"), EncodeCursor(7) + "=", strings.Repeat("A", 65),
		// "c1:8" is "YzE6OA": base64 alone would also accept non-zero padding
		// bits and line breaks (found by FuzzDecodeCursor).
		"YzE6OB", "YzE6\nOA", "YzE6OA\r\n",
	} {
		if id, err := DecodeCursor(s); err == nil {
			t.Errorf("DecodeCursor(%q) = %d, want an error", s, id)
		} else {
			assertError(t, err, EINVALID, "cursor", "start again without it")
		}
	}
}

func TestFilterQueryIsParsedBack(t *testing.T) {
	for _, raw := range []string{
		"",
		"activity=USER_LOGIN&activity=LOGIN_FAILED&operator=human&username=bob&id=3&id=4&object_type=User&object_id=7",
		"created_on=2026-11-21&tz=Europe/Berlin",
		"created_from=2026-11-20T10:00:00.123456Z&created_to=2026-11-22",
	} {
		f, err := ParseFilter(mustQuery(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseFilter(f.Query())
		if err != nil {
			t.Fatalf("ParseFilter(%q) refuses its own Query() %q: %v", raw, f.Query().Encode(), err)
		}
		if d := filterDiff(again, f); d != "" {
			t.Errorf("%q -> %q: %s", raw, f.Query().Encode(), d)
		}
		if f.IsZero() != (raw == "") {
			t.Errorf("ParseFilter(%q).IsZero() = %v", raw, f.IsZero())
		}
	}
}

// A time without an offset is a time in the filter's zone, as a date is.
func TestLocalTimesInFiltersAreInTheFiltersZone(t *testing.T) {
	for _, c := range []struct {
		query    string
		from, to string // RFC 3339, "" when not set
	}{
		{"created_from=2026-11-20T00:00:00&tz=Asia/Tokyo", "2026-11-19T15:00:00Z", ""},
		{"created_to=2026-12-01T22:15&tz=Europe/Berlin", "", "2026-12-01T21:15:59.999999Z"},
		{"created_from=2026-12-01 22:15&created_to=2026-12-01 22:15:30&tz=Europe/Berlin", "2026-12-01T21:15:00Z", "2026-12-01T21:15:30.999999Z"},
		{"created_from=2026-11-20T10:00:00.25", "2026-11-20T10:00:00.25Z", ""},
		{"created_from=2026-11-20T10:00:00%2B09:00&tz=Europe/Berlin", "2026-11-20T01:00:00Z", ""},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseFilter(q)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		for _, end := range []struct {
			got  time.Time
			want string
		}{{f.CreatedFrom, c.from}, {f.CreatedTo, c.to}} {
			if got := end.got.UTC().Format(time.RFC3339Nano); (end.want != "" && got != end.want) || (end.want == "" && !end.got.IsZero()) {
				t.Errorf("%s: %s, want %q", c.query, got, end.want)
			}
		}
	}
}
