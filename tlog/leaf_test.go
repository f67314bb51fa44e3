package tlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
)

// templateCases are activities whose text could confuse the template's
// cutting: keys named like the leaf's own inside extra, quotes, escapes,
// control and non-ASCII characters, and absent parts.
func templateCases(t testing.TB) []auditlog.Activity {
	canon := func(s string) json.RawMessage {
		b, err := jcs.Transform([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	odd := "q\"uote \\ back <tag> & \u2028 \t\n\x01 zoë 😀 \"created\":\"1970-01-01T00:00:00.000000Z\" ,\"id\":1,\"object_column_changes\":"
	return []auditlog.Activity{
		{},
		{Operator: auditlog.OperatorMachine, SystemName: "EXPORT_CSV", DisplayName: "Export CSV"},
		{
			Operator: auditlog.OperatorHuman, Username: odd, SystemName: odd, DisplayName: odd,
			SubtypeSystemName: odd, SubtypeDisplayName: odd, ObjectID: odd, ObjectType: odd, ObjectName: odd,
			Extra:      canon(`{"a":0,"created":"1970-01-01T00:00:00.000000Z","id":1,"object_column_changes":[],"n":1e3,"z":{"id":1,"object_column_changes":2}}`),
			Changes:    []auditlog.Change{{ColumnName: odd, OldValue: odd, NewValue: odd}, {ColumnName: "id", OldValue: ",\"id\":1,\"object_column_changes\":"}},
			RecordedBy: auditlog.UserRecorder(odd),
		},
		{Extra: canon(`{"id":1}`), Changes: []auditlog.Change{}},
	}
}

// apiLeafData is the leaf as the contract defines it, built the slow way:
// the activity's JSON as the API returns it, canonicalised whole by the jcs
// package. It is the oracle the one leaf encoder must match byte for byte.
func apiLeafData(t testing.TB, a *auditlog.Activity) []byte {
	t.Helper()
	b, err := auditlog.EncodeJSON(a)
	if err != nil {
		t.Fatal(err)
	}
	data, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTheLeafEncoderMatchesTheCanonicalJSONOfTheActivity(t *testing.T) {
	acts := templateCases(t)
	gen := demo.New(1, catalog.Builtin())
	types := map[string]auditlog.ActivityType{}
	for _, ty := range catalog.Builtin() {
		types[ty.SystemName] = ty
	}
	for range 2000 {
		n := gen.Next()
		extra, err := jcs.Transform(n.Extra)
		if err != nil {
			t.Fatal(err)
		}
		ty := types[n.SystemName]
		sub, _ := ty.Subtype(n.SubtypeSystemName)
		recorders := []auditlog.Recorder{"", auditlog.RecordedByService, auditlog.TokenRecorder(int64(len(acts))), auditlog.UserRecorder(n.Username)}
		acts = append(acts, auditlog.Activity{
			Operator: n.Operator, Username: n.Username, SystemName: n.SystemName, DisplayName: ty.DisplayName,
			SubtypeSystemName: n.SubtypeSystemName, SubtypeDisplayName: sub.DisplayName, Extra: extra,
			ObjectID: n.ObjectID, ObjectType: n.ObjectType, ObjectName: n.ObjectName, Changes: n.Changes,
			RecordedBy: recorders[len(acts)%len(recorders)],
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	ids := []int64{1, 9, 10, 99, 1000, 1 << 40, 1<<53 - 1}
	for i, a := range acts {
		tmpl, err := NewLeafTemplate(a)
		if err != nil {
			t.Fatalf("activity %d: %v", i, err)
		}
		for _, id := range []int64{ids[i%len(ids)], 1 + rng.Int64N(1e9)} {
			created := time.UnixMicro(rng.Int64N(4e15)).In(berlin) // years 1970 to 2096, any zone
			a.ID, a.Created = id, created
			want := apiLeafData(t, &a)
			if got := tmpl.Data(id, created); !bytes.Equal(got, want) {
				t.Fatalf("activity %d, id %d, created %s: the encoder's leaf differs from the canonical JSON\n got %s\nwant %s", i, id, created, got, want)
			}
			if got, err := LeafData(&a); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("activity %d: LeafData %s (%v)\nwant %s", i, got, err, want)
			}
			if got := tmpl.LeafHash(id, created); !bytes.Equal(got, LeafHash(want)) {
				t.Fatalf("activity %d: LeafHash is not the RFC 6962 hash of the leaf", i)
			}
		}
	}
}

func TestALeafHasTheContractsKeysAndRecordedByOnlyWhenKnown(t *testing.T) {
	for _, tc := range []struct {
		by   auditlog.Recorder
		keys int
	}{{auditlog.TokenRecorder(3), 14}, {"", 13}} {
		a := auditlog.Activity{ID: 7, Created: time.Now(), Operator: auditlog.OperatorMachine, RecordedBy: tc.by}
		data, err := LeafData(&a)
		if err != nil {
			t.Fatal(err)
		}
		var keys map[string]any
		if err := json.Unmarshal(data, &keys); err != nil {
			t.Fatal(err)
		}
		if len(keys) != tc.keys {
			t.Errorf("recorded by %q: the leaf %s has %d keys, want %d", tc.by, data, len(keys), tc.keys)
		}
		if got, _ := keys["recorded_by"].(string); got != string(tc.by) {
			t.Errorf("recorded by %q: the leaf says %q", tc.by, got)
		}
	}
}

func TestTemplatesAreEqualOnlyForTheSameContentAndBoundTheirLeaf(t *testing.T) {
	cases := templateCases(t)
	base := cases[2]
	same, err := NewLeafTemplate(base)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range cases {
		for _, change := range []func(*auditlog.Activity){
			func(*auditlog.Activity) {},
			func(a *auditlog.Activity) { a.RecordedBy = "token/99" },
			func(a *auditlog.Activity) { a.ObjectName += "!" },
		} {
			b := a
			change(&b)
			ta, _ := NewLeafTemplate(a)
			tb, _ := NewLeafTemplate(b)
			if want := a.RecordedBy == b.RecordedBy && a.ObjectName == b.ObjectName; ta.Equal(tb) != want {
				t.Errorf("case %d: Equal is %v for %+v and %+v", i, !want, a, b)
			}
			for _, id := range []int64{1, 1<<63 - 1} {
				if n := len(tb.Data(id, time.Now())); n > tb.MaxSize() {
					t.Errorf("case %d: a leaf of %d bytes, over its MaxSize %d", i, n, tb.MaxSize())
				}
			}
		}
	}
	if n := len(same.Data(1<<63-1, time.Now())); n != same.MaxSize() {
		t.Errorf("the leaf with the largest id has %d bytes, MaxSize says %d", n, same.MaxSize())
	}
}

// FuzzLeafTemplate checks the leaf encoder against the canonical JSON of
// the activity as the API returns it.
func FuzzLeafTemplate(f *testing.F) {
	f.Add("jdoe", "q\"uote \\ \u2028 \x01\x1f\x7f zoë 😀", "line 1\r\nline 2\t\b\f", int64(42))
	f.Add("", "plain text", "", int64(1))
	f.Fuzz(func(t *testing.T, name, text, value string, id int64) {
		if !utf8.ValidString(name) || !utf8.ValidString(text) || !utf8.ValidString(value) || id < 1 || id > 1<<53 {
			t.Skip()
		}
		a := auditlog.Activity{
			Operator: auditlog.OperatorHuman, Username: name, SystemName: text, DisplayName: text,
			SubtypeSystemName: value, SubtypeDisplayName: name, ObjectID: text, ObjectType: value, ObjectName: text,
			Changes:    []auditlog.Change{{ColumnName: name, OldValue: value, NewValue: text}},
			RecordedBy: auditlog.UserRecorder(name),
		}
		tmpl, err := NewLeafTemplate(a)
		if err != nil {
			t.Fatal(err)
		}
		a.ID, a.Created = id, time.UnixMicro(id).UTC()
		if got, want := tmpl.Data(a.ID, a.Created), apiLeafData(t, &a); !bytes.Equal(got, want) {
			t.Fatalf("the encoder's leaf differs from the canonical JSON\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkLeafHash(b *testing.B) {
	a := templateCases(b)[2]
	a.ID, a.Created = 123456, time.Now()
	b.Run("canonical JSON of the API form", func(b *testing.B) {
		for b.Loop() {
			LeafHash(apiLeafData(b, &a))
		}
	})
	b.Run("NewLeafTemplate", func(b *testing.B) {
		for b.Loop() {
			NewLeafTemplate(a)
		}
	})
	tmpl, _ := NewLeafTemplate(a)
	b.Run("LeafTemplate.LeafHash", func(b *testing.B) {
		for b.Loop() {
			tmpl.LeafHash(a.ID, a.Created)
		}
	})
}
