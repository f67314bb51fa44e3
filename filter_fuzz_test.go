package auditlog

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		"",
		"activity=USER_LOGIN&activity=LOGIN_FAILED&operator=human&username=bob&id=3&object_type=User&object_id=7",
		"created_on=2026-11-21&tz=Europe/Berlin",
		"created_from=2026-11-20&created_to=2026-11-21",
		"created_from=2026-11-20T10:00:00.123456789%2B02:00&created_to=2026-11-20T23:00:00Z",
		"created_from=2026-11-21&created_to=2026-11-20",
		"created_on=2026-11-20&created_from=2026-11-19",
		"created_on=2026-13-01",
		"created_from=0000-01-01&created_to=9999-12-31&tz=Pacific/Kiritimati",
		"tz=Mars/Base", "tz=Local", "tz=../etc/passwd", "tz=",
		"limit=0", "limit=1001", "limit=x", "limit=1000&cursor=YzE6NDI", "cursor=bad", "cursor=YzE6MDA3",
		"operator=robot", "id=-1", "id=9223372036854775807", "colour=red", "username=%00", "object_id=%FF",
		strings.Repeat("&activity=A", 101)[1:],
		"limit=5&limit=6",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		filter, err := ParseFilter(q, PagingParams...)
		if err == nil {
			err = ParsePaging(q, &filter)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%q: error %v is a %T, not an *Error", raw, err, err)
			}
			if e.Code != EINVALID || e.Message == "" {
				t.Fatalf("%q: error %+v lacks the invalid code or a message", raw, e)
			}
			// The field is the offending parameter's name: empty only for a
			// parameter without a name ("?=x"), which is refused as unknown.
			if e.Field == "" && !strings.Contains(e.Message, `unknown query parameter ""`) {
				t.Fatalf("%q: error %+v names no field", raw, e)
			}
			if _, known := q[e.Field]; !known {
				t.Fatalf("%q: error names field %q, which the query does not hold", raw, e.Field)
			}
			return
		}
		if !filter.CreatedFrom.IsZero() && !filter.CreatedTo.IsZero() && filter.CreatedTo.Before(filter.CreatedFrom) {
			t.Fatalf("%q: created_to %v is before created_from %v", raw, filter.CreatedTo, filter.CreatedFrom)
		}
		if filter.Limit < 1 || filter.Limit > MaxLimit {
			t.Fatalf("%q: limit %d outside 1..%d", raw, filter.Limit, MaxLimit)
		}
		if filter.BeforeID < 0 {
			t.Fatalf("%q: negative BeforeID %d", raw, filter.BeforeID)
		}
		for _, id := range filter.IDs {
			if id <= 0 {
				t.Fatalf("%q: id %d is not positive", raw, id)
			}
		}
		for _, o := range filter.Operators {
			if !o.Valid() {
				t.Fatalf("%q: operator %q", raw, o)
			}
		}
		for _, vs := range [][]string{filter.Activities, filter.Usernames, filter.ObjectTypes, filter.ObjectIDs} {
			for _, v := range vs {
				if v == "" || CheckText(v, len(v), Identifier) != "" {
					t.Fatalf("%q: accepted the filter value %q", raw, v)
				}
			}
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []struct {
		s  string
		id int64
	}{
		{EncodeCursor(1), 1},
		{EncodeCursor(42), 42},
		{EncodeCursor(9223372036854775807), 9223372036854775807},
		{"", 0},
		{"bad", -1},
		{"YzE6MDA3", 7},      // c1:007
		{"YzE6Kzc", 1 << 40}, // c1:+7
		{EncodeCursor(7) + "=", -9223372036854775808},
		{strings.Repeat("A", 65), 65},
	} {
		f.Add(seed.s, seed.id)
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		id, err := DecodeCursor(s)
		if err == nil {
			if id <= 0 {
				t.Fatalf("DecodeCursor(%q) = %d, not positive", s, id)
			}
			if c := EncodeCursor(id); c != s {
				t.Fatalf("DecodeCursor(%q) = %d, but EncodeCursor(%d) = %q: two cursors for one position", s, id, id, c)
			}
		} else {
			var e *Error
			if !errors.As(err, &e) || e.Code != EINVALID || e.Field != "cursor" {
				t.Fatalf("DecodeCursor(%q): error %v is not an invalid-cursor *Error", s, err)
			}
		}

		if n <= 0 {
			return
		}
		c := EncodeCursor(n)
		got, err := DecodeCursor(c)
		if err != nil || got != n {
			t.Fatalf("DecodeCursor(EncodeCursor(%d) = %q) = %d, %v", n, c, got, err)
		}
		if url.QueryEscape(c) != c {
			t.Fatalf("cursor %q needs escaping in a query string", c)
		}
	})
}
