package http

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// searchAPIFixture records activities with object names, extra values and
// column changes for the search box to find, and returns every stored
// activity (the environment's own included), as the API reads them.
func searchAPIFixture(t *testing.T, e *apiEnv) []auditlog.Activity {
	t.Helper()
	names := []string{"Medical Records", "Émilie's notes", "Invoices"}
	extras := []string{`{"browser":"Firefox 131","ip":"10.0.0.7"}`, `{"client":{"ip":"10.0.0.8"}}`, `{}`}
	changes := []string{
		`[{"column_name":"permissions","old_value":"read","new_value":"read,write"}]`,
		`[{"column_name":"permissions","old_value":"read,write","new_value":"read"},{"column_name":"status","old_value":"draft","new_value":"final"}]`,
		`[]`,
	}
	users := []string{"alice", "bob", "émilie"}
	for i := range 24 {
		e.clock.Set(apiBase.Add(time.Duration(i) * time.Hour))
		body := `{"activity_system_name":"EDIT_PERMISSION_GROUP","operator":"human","username":"` + users[i%3] +
			`","object_type":"PermissionGroup","object_id":"` + strconv.Itoa(i%4) + `","object_name":"` + names[(i/3)%3] +
			`","extra":` + extras[(i/2)%3] + `,"object_column_changes":` + changes[(i/5)%3] + `}`
		e.record(t, body)
	}
	var all []auditlog.Activity
	for _, a := range e.list(t, "limit=1000").Activities {
		all = append(all, e.detailActivity(t, a.ID))
	}
	return all
}

// TestAPISearchListsAndExportsWhatTheExpressionSelects checks q on the
// list (in pages, with and without the other filters) and on both exports
// against the brute-force matcher, over real HTTP.
func TestAPISearchListsAndExportsWhatTheExpressionSelects(t *testing.T) {
	e := newAPIEnv(t)
	all := searchAPIFixture(t, e)
	types, err := e.server.store.ActivityTypes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q     string
		extra url.Values
	}{
		{q: "medical"},
		{q: "emilie"},
		{q: `"medical records" -user:bob`},
		{q: "column:permissions new:read,write"},
		{q: `column:permissions new:"read,write"`},
		{q: "extra.browser:firefox"},
		{q: "extra.client.ip:10.0.0.8"},
		{q: "activity:EDIT_PERM* object:invoices"},
		{q: "-old:draft", extra: url.Values{"username": {"alice"}}},
		{q: "user:alice,bob id:5..20"},
		{q: "created:>=" + apiBase.Add(10*time.Hour).Format("2006-01-02T15:04") + " write"},
	} {
		search, err := auditlog.ParseSearch(c.q, time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if err := search.Resolve(types); err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		want := []int64{}
		for _, a := range all {
			if search.Matches(&a) && (c.extra == nil || slices.Contains(c.extra["username"], a.Username)) {
				want = append(want, a.ID)
			}
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("%s selects %d of %d activities: the case proves nothing", c.q, len(want), len(all))
		}
		query := url.Values{"q": {c.q}}
		for k, v := range c.extra {
			query[k] = v
		}
		for _, limit := range []int{1000, 4} {
			if got := e.collect(t, query, limit); !slices.Equal(got, want) {
				t.Errorf("?%s in pages of %d: got %v, want %v", query.Encode(), limit, got, want)
			}
		}
		// An export is itself an activity, recorded before its rows are
		// read, whose extra holds the expression: it selects itself.
		for _, path := range []string{"/api/v1/activities/export.jsonl?", "/api/v1/activities/export.csv?"} {
			got := exportedIDs(t, e, path+query.Encode())
			latest := e.detailActivity(t, e.list(t, "limit=1").Activities[0].ID)
			if !strings.HasPrefix(latest.SystemName, "DOWNLOAD_") {
				t.Fatalf("the export recorded %s", latest.SystemName)
			}
			all = append([]auditlog.Activity{latest}, all...)
			if search.Matches(&latest) && (c.extra == nil || slices.Contains(c.extra["username"], latest.Username)) {
				want = append([]int64{latest.ID}, want...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s%s: got %v, want %v", path, query.Encode(), got, want)
			}
		}
	}
}

// A search's page says up to which activity the index held everything;
// a page without a search says nothing of the index.
func TestAPISearchSaysHowFarTheIndexIs(t *testing.T) {
	e := newAPIEnv(t)
	all := searchAPIFixture(t, e)
	for _, c := range []struct {
		query string
		want  *int64
	}{{"q=medical", &all[0].ID}, {"username=alice", nil}} {
		status, _, body := e.do(t, "GET", "/api/v1/activities?"+c.query, e.full, "")
		var page struct {
			SearchIndexedThrough *int64 `json:"search_indexed_through"`
		}
		if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil {
			t.Fatalf("?%s: %d %s %v", c.query, status, body, err)
		}
		if (page.SearchIndexedThrough == nil) != (c.want == nil) || c.want != nil && *page.SearchIndexedThrough != *c.want {
			t.Errorf("?%s: search_indexed_through %v, want %v", c.query, page.SearchIndexedThrough, c.want)
		}
	}
}

// exportedIDs gets an export and returns the ids of its rows, newest first.
func exportedIDs(t *testing.T, e *apiEnv, path string) []int64 {
	t.Helper()
	status, _, body := e.do(t, "GET", path, e.full, "")
	if status != http.StatusOK {
		t.Fatalf("%s: answered %d %s", path, status, body)
	}
	ids := []int64{}
	if strings.Contains(path, ".csv") {
		records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := slices.Index(records[0], "Activity ID")
		if col < 0 {
			t.Fatalf("no ID column in %q", records[0])
		}
		for _, r := range records[1:] {
			id, err := strconv.ParseInt(r[col], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var a auditlog.Activity
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
	}
	// Exports run oldest first or newest first; compare as the list does.
	if len(ids) > 1 && ids[0] < ids[len(ids)-1] {
		slices.Reverse(ids)
	}
	return ids
}

// A malformed expression, or one naming an activity type that does not
// exist, is a 400 naming q and quoting the term on every reader, and
// records nothing.
func TestAPISearchRefusesAMalformedExpressionNamingTheTerm(t *testing.T) {
	e := newAPIEnv(t)
	before := e.count(t)
	for _, c := range []struct{ q, term string }{
		{"medical foo:bar", "foo:bar"},
		{"activity:NOPE", "activity:NOPE"},
		{`object:"Medical`, `object:"Medical`},
		{"id:abc", "id:abc"},
		{"created:2026-13-01", "created:2026-13-01"},
	} {
		for _, path := range []string{"/api/v1/activities", "/api/v1/activities/export.csv", "/api/v1/activities/export.jsonl"} {
			status, _, body := e.do(t, "GET", path+"?q="+url.QueryEscape(c.q), e.full, "")
			got := wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "q", -1)
			if !strings.Contains(got.Message, strconv.Quote(c.term)) {
				t.Errorf("%s?q=%s: %q does not quote %s", path, c.q, got.Message, c.term)
			}
		}
	}
	if n := e.count(t); n != before {
		t.Errorf("the refused reads recorded %d activities", n-before)
	}
}
