package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

var searchTests = []struct {
	name string
	fn   func(t *testing.T, open Opener)
}{
	{"search selects, pages and counts exactly what the brute-force matcher selects", testSearch},
}

// searchFixture records activities whose texts overlap on purpose: words
// in several fields, diacritics and case, phrases that would run from one
// field into the next, nested extra keys and change rows whose old and
// new values belong to different rows.
func searchFixture(t *testing.T, s auditlog.Store, clock *Clock) []auditlog.Activity {
	t.Helper()
	names := []string{"Medical Records", "Émilie's notes", "records archive", "Keyers", "MEDICAL", "Invoice 2026-11", "Ünïcödé Straße", ""}
	users := []string{"alice", "bob", "émilie", "records"}
	extras := []string{
		`{"browser":"Firefox 131"}`,
		`{"browser":"Chrome","ip":"10.0.0.7"}`,
		`{"client":{"ip":"10.0.0.7","name":"medical app"}}`,
		`{"tags":["urgent","Records"],"note":"firefox was used"}`,
		`{}`,
	}
	changes := [][]auditlog.Change{
		nil,
		{{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"}},
		{{ColumnName: "permissions", OldValue: "read,write", NewValue: "read"}, {ColumnName: "status", OldValue: "draft", NewValue: "final"}},
		{{ColumnName: "status", OldValue: "read", NewValue: "archived"}, {ColumnName: "permissions", OldValue: "none", NewValue: "write"}},
		{{ColumnName: "name", OldValue: "Émilie", NewValue: "Emilie Medical"}},
	}
	types := []string{"EDIT_USER", "CREATE_USER", "USER_LOGIN", "LOGIN_FAILED", "EDIT_PERMISSION_GROUP", "DOWNLOAD_CSV"}
	for i := range 90 {
		clock.Set(base.Add(time.Duration(i) * 53 * time.Minute))
		a := human(types[i%len(types)], users[i%len(users)])
		if i%7 == 0 {
			a = machine(types[(i/7)%len(types)])
		}
		if a.SystemName == "DOWNLOAD_CSV" {
			a.SubtypeSystemName = "AUDIT_LOG_CSV"
		}
		a.ObjectName = names[i%len(names)]
		a.ObjectType = []string{"PermissionGroup", "User", "Document"}[i%3]
		a.ObjectID = fmt.Sprint(i % 5)
		a.Extra = json.RawMessage(extras[i%len(extras)])
		a.Changes = changes[(i/2)%len(changes)]
		record(t, s, a)
	}
	acts := all(t, s)
	slices.Reverse(acts)
	return acts
}

// searchExpressions are the handwritten cases; random ones are added to them.
var searchExpressions = []string{
	`medical`, `MEDICAL`, `emilie`, `émilie`, `"medical records"`, `"records alice"`, `records -medical`,
	`-records`, `firefox`, `extra.browser:firefox`, `extra.note:firefox`, `extra.client.ip:"10.0.0.7"`,
	`extra.ip:10.0.0.7`, `extra.client:medical`, `object:records`, `object:"medical records"`, `-object:records`,
	`column:permissions`, `column:permissions old:read`, `column:permissions old:read new:"read,write"`,
	`old:read new:archived`, `old:draft new:write`, `column:status,name`, `-column:permissions`, `-old:read`,
	`new:write -new:read`, `activity:EDIT_USER`, `activity:"Edit User"`, `activity:EDIT_*`, `-activity:USER_LOGIN,LOGIN_FAILED`,
	`operator:machine`, `-operator:machine medical`, `user:alice`, `username:émilie records`, `id:5..20`, `id:>80`,
	`id:<=3,40`, `created:2026-11-21`, `created:>=2026-11-22`, `created:<2026-11-21T10:00`, `created:2026-11-20..2026-11-21 firefox`,
	`type:User`, `object_type:Document,User`, `object_id:3`, `recorded_by:token/1`, `-recorded_by:token/1`,
	`audit log`, `"audit log csv"`, `straße`, `strasse`, `unicode`, `2026`, `invoice 2026 11`, `10 0 0 7`, `read,write`,
	`"read write"`, `urgent records`, `keyers,medical`, `app`,
}

// searchVocabulary is what random expressions are made of.
var searchVocabulary = []string{
	`medical`, `records`, `emilie`, `firefox`, `chrome`, `alice`, `bob`, `read`, `write`, `"read write"`, `notes`,
	`object:medical`, `object:records,keyers`, `extra.browser:firefox`, `extra.client.ip:10`, `column:permissions`,
	`column:status`, `old:read`, `new:read`, `new:final`, `activity:EDIT_*`, `activity:USER_LOGIN`, `operator:human`,
	`user:bob`, `type:User`, `object_id:2,3`, `id:10..60`, `created:>=2026-11-21`, `edit`, `login`, `csv`, `archived`,
}

func testSearch(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(base)
	s := open(t, clock)
	stored := searchFixture(t, s, clock)
	types, err := s.ActivityTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	exprs := slices.Clone(searchExpressions)
	for range 120 {
		var terms []string
		for range 1 + rng.IntN(3) {
			term := searchVocabulary[rng.IntN(len(searchVocabulary))]
			if rng.IntN(4) == 0 {
				term = "-" + term
			}
			terms = append(terms, term)
		}
		exprs = append(exprs, strings.Join(terms, " "))
	}
	mid := stored[45].ID
	matched := 0
	for _, expr := range exprs {
		search, err := auditlog.ParseSearch(expr, time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if err := search.Resolve(types); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		want := func(f auditlog.Filter) []int64 {
			var ids []int64
			for i := range stored {
				if matches(f, stored[i]) && search.Matches(&stored[i]) {
					ids = append(ids, stored[i].ID)
				}
			}
			if !f.OldestFirst {
				slices.Reverse(ids)
			}
			return ids
		}
		if len(want(auditlog.Filter{})) > 0 {
			matched++
		}
		for _, f := range []auditlog.Filter{
			{},
			{Limit: 5},
			{Usernames: []string{"alice", "bob"}, Limit: 5},
			{Activities: []string{"EDIT_USER", "USER_LOGIN"}, Operators: []auditlog.Operator{auditlog.OperatorHuman}},
			{CreatedFrom: base.Add(24 * time.Hour), CreatedTo: base.Add(60 * time.Hour), Limit: 7},
			{AfterID: mid, OldestFirst: true},
			{BeforeID: mid, Limit: 4},
		} {
			f.Search = search
			got, more, err := s.FindActivities(ctx, f)
			if err != nil {
				t.Fatalf("%s, %+v: %v", expr, f, err)
			}
			all := want(f)
			w, wantMore := all, false
			if f.Limit > 0 && len(w) > f.Limit {
				w, wantMore = w[:f.Limit], true
			}
			if !slices.Equal(idsOf(got), w) || more != wantMore {
				t.Fatalf("%s with %+v: ids %v (more %v), want %v (more %v)", expr, f, idsOf(got), more, w, wantMore)
			}
			if f.Limit == 0 {
				n, err := s.CountActivities(ctx, f)
				if err != nil || n != int64(len(all)) {
					t.Fatalf("%s with %+v: count %d (%v), want %d", expr, f, n, err, len(all))
				}
			}
		}
		// A few pages each (pageThrough records an activity per page).
		paged := want(auditlog.Filter{})
		pageThrough(t, s, auditlog.Filter{Search: search, Limit: max(3, len(paged)/4+1)}, paged)
		// pageThrough records one activity per page, which no search above
		// is about; the brute force sees them too from here on.
		stored = reversed(all(t, s))
	}
	// The cases must tell answers apart: most expressions match something.
	if matched < len(exprs)/2 {
		t.Fatalf("only %d of %d expressions match anything: the fixture does not test search", matched, len(exprs))
	}
	bounds := []time.Time{base, base.Add(24 * time.Hour), base.Add(48 * time.Hour), base.Add(96 * time.Hour)}
	search, err := auditlog.ParseSearch("records -firefox", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.CountActivitiesOverTime(ctx, auditlog.Filter{Search: search}, bounds)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]auditlog.OperatorCounts, len(bounds)-1)
	for i := range stored {
		a := &stored[i]
		for j := range want {
			if !a.Created.Before(bounds[j]) && a.Created.Before(bounds[j+1]) && search.Matches(a) {
				want[j].Add(a.Operator, 1)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("counts over time of %q: %v, want %v", search.Expr, got, want)
	}
}

func reversed(acts []auditlog.Activity) []auditlog.Activity {
	slices.Reverse(acts)
	return acts
}
