package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/auditlog/auditlog"
)

// decodeSeeds are recording bodies: valid ones and one of each refusal the
// decoder makes.
func decodeSeeds() []string {
	valid := `{"activity_system_name":"EDIT_USER","operator":"human","username":"jdoe","extra":{"browser":"Firefox 131"},` +
		`"object_id":"17","object_type":"User","object_name":"J. Doe","event_id":"3f2b6c1e-8a4d-4f7e-9b1a-2c5d6e7f8a9b",` +
		`"object_column_changes":[{"column_name":"disabled","old_value":"false","new_value":"true"}]}`
	machine := `{"activity_system_name":"APPLICATION_UPGRADE","operator":"machine"}`
	return []string{
		valid,
		machine,
		`{"activities":[` + valid + `,` + machine + `]}`,
		` { "activities" : [ ` + machine + ` ] } `,
		`{}`,
		`{"extra":null,"object_column_changes":null}`,
		`{"extra":{"b":[1,2.50],"a":"<ü>"}}`,
		// unknown and server-assigned keys
		`{"activity_system_name":"EDIT_USER","operator":"human","usernme":"jdoe"}`,
		`{"activities":[` + machine + `,{"usernme":"x"}]}`,
		`{"id":5}`, `{"created":"2026-11-20T10:00:00Z"}`, `{"activity_display_name":"Edit User"}`,
		`{"activities":[{"activity_subtype_display_name":"x"}]}`,
		// wrong JSON types
		`{"operator":5}`, `{"activities":[{"operator":5}]}`, `{"object_column_changes":[{"column_name":5}]}`,
		`{"object_column_changes":{}}`, `{"activities":[1]}`, `{"activities":[null]}`,
		// not an object, batch shape
		`[]`, `"x"`, `null`, `5`, ``, `   `,
		`{"activities":[]}`, `{"activities":{}}`, `{"activities":null}`,
		`{"activities":[` + strings.TrimSuffix(strings.Repeat(machine+",", auditlog.MaxBatch+1), ",") + `]}`,
		`{"activities":[` + machine + `],"operator":"machine"}`,
		`{"operator":"machine","activities":[` + machine + `]}`,
		`{"activities":[` + machine + `],"activities":[` + machine + `]}`,
		// trailing garbage and invalid JSON
		machine + ` x`, machine + machine, `{"activities":[` + machine + `]} []`,
		`{"operator":`, `{"operator" "x"}`, `{"activities":[{]}`, `{"activities":[` + machine, `{"a":1,}`,
		"{\"username\":\"\xff\"}",
	}
}

func FuzzDecodeActivities(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		activities, batch, err := decodeActivities(body)
		if err != nil {
			var e *auditlog.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not an *auditlog.Error", err, err)
			}
			if e.Code != auditlog.EINVALID || e.Message == "" {
				t.Fatalf("error %+v lacks the invalid code or a message", e)
			}
			// The field is empty only for a key that is itself empty: {"": 1}
			// is refused as the unknown field "".
			if e.Field == "" && e.Message != `unknown field ""` {
				t.Fatalf("error %+v names no field", e)
			}
			if e.Index < -1 || e.Index >= auditlog.MaxBatch {
				t.Fatalf("error %+v has index %d", e, e.Index)
			}
			if activities != nil {
				t.Fatalf("an error and %d activities", len(activities))
			}
			return
		}
		if len(activities) < 1 || len(activities) > auditlog.MaxBatch {
			t.Fatalf("decoded %d activities", len(activities))
		}
		if !batch && len(activities) != 1 {
			t.Fatalf("a single activity decoded as %d", len(activities))
		}
		for i, a := range activities {
			// json.Marshal writes extra compacted and HTML-escaped: the value
			// after one round trip is the original with extra so written, and
			// a second round trip changes nothing.
			want := a
			want.Extra = marshalledExtra(t, a.Extra)
			once := roundTrip(t, a)
			if !reflect.DeepEqual(once, want) {
				t.Fatalf("activity %d changes when encoded and decoded again:\n got %#v\nwant %#v", i, once, want)
			}
			if twice := roundTrip(t, once); !reflect.DeepEqual(twice, once) {
				t.Fatalf("activity %d changes on a second round trip:\n got %#v\nwant %#v", i, twice, once)
			}
		}
	})
}

// marshalledExtra is how json.Marshal writes extra and how it decodes again:
// a missing extra is written as null, which decodes to the raw text "null".
func marshalledExtra(t *testing.T, extra json.RawMessage) json.RawMessage {
	if extra == nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(extra)
	if err != nil {
		t.Fatalf("extra %q was accepted but cannot be encoded: %v", extra, err)
	}
	return b
}

func roundTrip(t *testing.T, a auditlog.NewActivity) auditlog.NewActivity {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("encoding %#v: %v", a, err)
	}
	// The encoded activity is itself a valid recording request.
	got, batch, err := decodeActivities(b)
	if err != nil || batch || len(got) != 1 {
		t.Fatalf("decoding the encoded activity %s: %d activities, batch %v, %v", b, len(got), batch, err)
	}
	// Decoding into a zero value directly gives the same as the request decoder.
	var direct auditlog.NewActivity
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&direct); err != nil || !reflect.DeepEqual(direct, got[0]) {
		t.Fatalf("decoding %s: decodeActivities gives %#v, json.Decode gives %#v (%v)", b, got[0], direct, err)
	}
	return got[0]
}
