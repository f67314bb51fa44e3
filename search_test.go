package auditlog

import (
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWordsFoldCaseDiacriticsAndCompatibilityForms(t *testing.T) {
	for in, want := range map[string][]string{
		"Émilie's NOTES":         {"emilie", "s", "notes"},
		"read,write":             {"read", "write"},
		"10.0.0.7":               {"10", "0", "0", "7"},
		"ﬁle Ｆｕｌｌ":               {"file", "full"},
		"Ünïcödé Straße":         {"unicode", "straße"},
		"jdoe@example.com":       {"jdoe", "example", "com"},
		"  --  ":                 nil,
		strings.Repeat("a", 120): {strings.Repeat("a", MaxWordBytes)},
	} {
		if got := Words(in); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSearchReadsTheContractsTerms(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSearch(`activity:EDIT_*,"Edit User" -operator:machine user:jdoe id:10..20 created:2026-11-26 `+
		`type:PermissionGroup object_id:17 object:"Medical Records" column:permissions old:read new:"read,write" `+
		`extra.client.ip:10.0.0.7 recorded_by:token/3 -"firefox 131" émilie`, berlin)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, berlin)
	want := []SearchTerm{
		{Field: SearchActivity, Values: []string{"EDIT_*", "Edit User"}},
		{Field: SearchOperator, Negated: true, Values: []string{"machine"}},
		{Field: SearchUsername, Values: []string{"jdoe"}},
		{Field: SearchID, Spans: []Span{{10, 20}}},
		{Field: SearchCreated, Spans: []Span{{day.UnixMicro(), day.AddDate(0, 0, 1).UnixMicro() - 1}}},
		{Field: SearchObjectType, Values: []string{"PermissionGroup"}},
		{Field: SearchObjectID, Values: []string{"17"}},
		{Field: SearchObject, Phrases: [][]string{{"medical", "records"}}},
		{Field: SearchExtra, Path: "client.ip", Phrases: [][]string{{"10", "0", "0", "7"}}},
		{Field: SearchRecordedBy, Values: []string{"token/3"}},
		{Field: SearchText, Negated: true, Phrases: [][]string{{"firefox", "131"}}},
		{Field: SearchText, Phrases: [][]string{{"emilie"}}},
	}
	wantRow := []SearchTerm{
		{Field: SearchColumn, Values: []string{"permissions"}},
		{Field: SearchOld, Phrases: [][]string{{"read"}}},
		{Field: SearchNew, Phrases: [][]string{{"read", "write"}}},
	}
	same := func(got, want []SearchTerm) bool {
		return slices.EqualFunc(got, want, func(a, b SearchTerm) bool {
			return a.Field == b.Field && a.Negated == b.Negated && a.Path == b.Path && slices.Equal(a.Values, b.Values) &&
				slices.EqualFunc(a.Phrases, b.Phrases, slices.Equal) && slices.Equal(a.Spans, b.Spans)
		})
	}
	if !same(s.Terms, want) {
		t.Errorf("terms\n%+v\nwant\n%+v", s.Terms, want)
	}
	if !same(s.Row, wantRow) {
		t.Errorf("row terms\n%+v\nwant\n%+v", s.Row, wantRow)
	}
}

func TestParseSearchRefusesAMalformedExpressionNamingTheTerm(t *testing.T) {
	for expr, term := range map[string]string{
		"medical foo:bar":                "foo:bar",
		`object:"Medical`:                `object:"Medical`,
		"-":                              "-",
		"user:":                          "user:",
		"operator:robot":                 "operator:robot",
		"id:0":                           "id:0",
		"id:20..10":                      "id:20..10",
		"created:26.11.2026":             "created:26.11.2026",
		"created:2026-11-30..2026-11-01": "created:2026-11-30..2026-11-01",
		"medic*":                         "medic*",
		"activity:ED*IT":                 "activity:ED*IT",
		`object:"--"`:                    `object:"--"`,
		"extra.:x":                       "extra.:x",
		`"medical"records`:               `"medical"records`,
		"user:a\x01b":                    "user:a\x01b",
	} {
		_, err := ParseSearch(expr, time.UTC)
		var e *Error
		if !errors.As(err, &e) || e.Field != "q" || e.Code != EINVALID {
			t.Errorf("%q: %v, want an invalid q", expr, err)
			continue
		}
		if !strings.Contains(e.Message, strconv.Quote(term)) {
			t.Errorf("%q: %q does not quote %q", expr, e.Message, term)
		}
	}
	for _, expr := range []string{
		strings.Repeat("a ", MaxSearchBytes/2+1),
		strings.Repeat("a ", MaxSearchTerms+1),
		"user:" + strings.Repeat("a,", MaxSearchAlternatives) + "a",
	} {
		var e *Error
		if _, err := ParseSearch(expr, time.UTC); !errors.As(err, &e) || e.Field != "q" {
			t.Errorf("an expression over the limits (%d bytes): %v", len(expr), err)
		}
	}
	s, err := ParseSearch("activity:NOPE,USER_LOGIN", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Resolve([]ActivityType{{SystemName: "USER_LOGIN", DisplayName: "User Login"}})
	var e *Error
	if !errors.As(err, &e) || e.Field != "q" || !strings.Contains(e.Message, `"activity:NOPE"`) {
		t.Errorf("an activity that is not in the catalogue: %v", err)
	}
}

// searchSample is an activity with text in every field search reads.
var searchSample = Activity{ID: 42, SystemName: "EDIT_PERMISSION_GROUP", DisplayName: "Edit Permission Group",
	Operator: OperatorHuman, Username: "émilie", ObjectType: "PermissionGroup", ObjectID: "17", ObjectName: "Medical Records",
	Created: time.Date(2026, 11, 26, 9, 14, 0, 0, time.UTC), RecordedBy: "token/3",
	Extra: []byte(`{"browser":"Firefox 131","client":{"ip":"10.0.0.7"},"tags":["urgent","Keyers"]}`),
	Changes: []Change{{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"},
		{ColumnName: "status", OldValue: "draft", NewValue: "final"}}}

func TestSearchMatchesByTheContractsRules(t *testing.T) {
	types := []ActivityType{{SystemName: "EDIT_PERMISSION_GROUP", DisplayName: "Edit Permission Group"}, {SystemName: "USER_LOGIN", DisplayName: "User Login"}}
	for expr, want := range map[string]bool{
		"medical":                               true,
		"EMILIE":                                true,
		`"medical records"`:                     true,
		`"records medical"`:                     false,
		`"records emilie"`:                      false, // a phrase never runs into the next field
		"activity:edit_perm*":                   true,
		`activity:"user login"`:                 false,
		"column:permissions old:read new:write": true,
		"column:permissions new:final":          false, // final is the status row's
		"column:status old:draft":               true,
		"column:permissions -new:final":         false, // a negated row term holds on no row
		"column:permissions -new:write":         false,
		"extra.browser:firefox":                 true,
		"extra.client.ip:10.0.0.7":              true,
		"extra.client:10":                       false,
		"extra.tags:keyers":                     true,
		"object:keyers":                         false,
		"keyers":                                true,
		"permissions":                           false, // a column's name is not free text
		"user:émilie type:PermissionGroup object_id:17 recorded_by:token/3": true,
		"user:Émilie":               false,
		"id:40..42 -id:41":          true,
		"id:>42":                    false,
		"created:2026-11-26T09:14":  true,
		"created:<2026-11-26T09:14": false,
		"operator:machine,human":    true,
		"-operator:human":           false,
		"medical,invoice":           false, // the phrase "medical invoice": commas are alternatives in qualifiers only
		"object:medical,invoice":    true,
	} {
		s, err := ParseSearch(expr, time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if err := s.Resolve(types); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := s.Matches(&searchSample); got != want {
			t.Errorf("%s: matches %v, want %v", expr, got, want)
		}
	}
}

// FuzzParseSearch: any expression is parsed or refused as an invalid q,
// never a panic, and what parses can be matched; a quoted text always
// finds an object named by it.
func FuzzParseSearch(f *testing.F) {
	for _, seed := range []string{`object:"Medical Records" -user:admin`, `column:permissions new:"read,write"`,
		`created:2026-11-01..2026-11-30 id:>5`, `extra.a.b:"x \" y" medic`, `activity:EDIT_*,"Edit User"`, `"a\\b" -"c"`, "émilie ﬁle"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSearch(expr, time.UTC)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Field != "q" || e.Code != EINVALID {
				t.Fatalf("%q: %v is not an invalid q", expr, err)
			}
		} else {
			_ = s.Resolve(nil)
			s.Matches(&searchSample)
			s.TextQueries()
		}
		if CheckText(expr, MaxSearchBytes, FreeText) != "" || len(Words(expr)) == 0 || len(expr) > MaxSearchBytes-20 {
			return
		}
		quoted := `object:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(expr) + `"`
		s, err = ParseSearch(quoted, time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", quoted, err)
		}
		a := searchSample
		a.ObjectName = expr
		if !s.Matches(&a) {
			t.Fatalf("%s does not find the object named %q", quoted, expr)
		}
	})
}

// The index's name words are FNV-1a's, as stored indexes hold them.
func TestNameWordsAreFNV1a(t *testing.T) {
	for _, name := range []string{"", "permissions", "client.ip", "Ünïcödé"} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if got, want := nameWord(columnWordPrefix, name), columnWordPrefix+strconv.FormatUint(h.Sum64(), 36); got != want {
			t.Errorf("nameWord(%q) = %s, want %s", name, got, want)
		}
	}
}
