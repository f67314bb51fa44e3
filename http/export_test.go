package http

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
	"github.com/auditlog/auditlog/export"
	"github.com/auditlog/auditlog/sqlite"
)

// countingStore counts the rows StreamActivities hands out and signals
// when a stream ends.
type countingStore struct {
	auditlog.Store
	rows     atomic.Int64
	finished chan error
}

func (s *countingStore) StreamActivities(ctx context.Context, f auditlog.Filter, fn func(*auditlog.Activity) error) error {
	err := s.Store.StreamActivities(ctx, f, func(a *auditlog.Activity) error {
		s.rows.Add(1)
		return fn(a)
	})
	if f.Limit == 0 {
		s.finished <- err
	}
	return err
}

type exportFixture struct {
	store  *countingStore
	srv    *httptest.Server
	admin  string // a token of the admin user: read and export
	reader string // a machine token with read only
	export string // a machine token with read and export
}

// newExportFixture starts a server over a store holding n demo activities.
func newExportFixture(t *testing.T, n int) *exportFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: t.TempDir(), Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gen := demo.New(1, catalog.Builtin())
	for done := 0; done < n; done += auditlog.MaxBatch {
		acts := make([]auditlog.NewActivity, min(auditlog.MaxBatch, n-done))
		for i := range acts {
			acts[i] = gen.Next()
		}
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Bootstrap(ctx, "unused-hash"); err != nil {
		t.Fatal(err)
	}
	fx := &exportFixture{store: &countingStore{Store: db, finished: make(chan error, 16)}}
	token := func(name string, user string, scopes ...auditlog.Permission) string {
		secret := auditlog.GenerateTokenSecret()
		if _, err := db.CreateToken(ctx, setup, auditlog.NewToken{Name: name, Scopes: scopes, Username: user}, secret); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	fx.admin = token("admin-ui", auditlog.AdminUsername, auditlog.PermActivitiesRead, auditlog.PermActivitiesExport)
	fx.reader = token("reader", "", auditlog.PermActivitiesRead)
	fx.export = token("nightly-export", "", auditlog.PermActivitiesRead, auditlog.PermActivitiesExport)
	fx.srv = httptest.NewServer(NewServer(Config{Store: fx.store}))
	t.Cleanup(fx.srv.Close)
	return fx
}

// get makes a GET request, checks the answer against the OpenAPI document
// and returns it with its body read.
func (fx *exportFixture) get(t *testing.T, token, pathAndQuery string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", fx.srv.URL+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkOpenAPI(t, req, resp.StatusCode, resp.Header, body)
	return resp, body
}

// list pages through the list endpoint with the given query.
func (fx *exportFixture) list(t *testing.T, query string) []auditlog.Activity {
	t.Helper()
	var all []auditlog.Activity
	cursor := ""
	for {
		q := query + "&limit=1000"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		resp, body := fx.get(t, fx.admin, "/api/v1/activities?"+q)
		if resp.StatusCode != 200 {
			t.Fatalf("list %s: %d %s", q, resp.StatusCode, body)
		}
		var page struct {
			Activities []auditlog.Activity `json:"activities"`
			NextCursor *string             `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Activities...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}

func TestCSVExportEqualsTheListForTheSameFilter(t *testing.T) {
	fx := newExportFixture(t, 3000)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, query := range []string{
		"operator=machine&tz=Europe/Berlin",
		"activity=USER_LOGIN&activity=EDIT_USER&activity=DOWNLOAD_CSV",
		"username=alice.smith&username=bob.garcia",
		"object_type=Flow&operator=human",
	} {
		t.Run(query, func(t *testing.T) {
			resp, body := fx.get(t, fx.admin, "/api/v1/activities/export.csv?"+query)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			// The list runs after the export, which recorded itself since.
			want := fx.list(t, query+"&created_to="+time.Now().UTC().Format(time.RFC3339Nano))
			records, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(records[0], export.Header) {
				t.Fatalf("header %q", records[0])
			}
			rows := records[1:]
			exported := rows[:0]
			for _, r := range rows {
				if id, _ := strconv.ParseInt(r[0], 10, 64); id <= want[0].ID {
					exported = append(exported, r)
				}
			}
			if len(exported) != len(want) || len(want) == 0 {
				t.Fatalf("the export holds %d activities, the list %d", len(exported), len(want))
			}
			loc := time.UTC
			if strings.Contains(query, "tz=") {
				loc = berlin
			}
			for i, a := range want {
				changes, _ := json.Marshal(a.Changes)
				wantRow := []string{strconv.FormatInt(a.ID, 10), a.Created.In(loc).Format(auditlog.CreatedLayout), string(a.Operator),
					a.Username, a.DisplayName, a.SystemName, a.SubtypeDisplayName, a.SubtypeSystemName, string(a.Extra),
					a.ObjectID, a.ObjectType, a.ObjectName, string(changes), string(a.RecordedBy)}
				for j := range wantRow {
					wantRow[j] = export.EscapeCell(wantRow[j])
				}
				if !slices.Equal(exported[i], wantRow) {
					t.Fatalf("row %d:\n got %q\nwant %q", i, exported[i], wantRow)
				}
			}
		})
	}
}

func TestJSONLExportEqualsTheList(t *testing.T) {
	fx := newExportFixture(t, 1500)
	resp, body := fx.get(t, fx.export, "/api/v1/activities/export.jsonl?operator=human")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jsonl; charset=utf-8" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := fx.list(t, "operator=human")
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	var got []auditlog.Activity
	for sc.Scan() {
		var a auditlog.Activity
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, a)
	}
	// The machine token's own export is recorded as a machine activity: not in a human filter.
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range got {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Fatalf("line %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

func TestExportsAreRecordedInTheAuditLog(t *testing.T) {
	fx := newExportFixture(t, 10)
	cases := []struct {
		name, token, path               string
		operator, username, system, sub string
		fileName, filter                string
	}{
		{"a CSV export by a user", fx.admin, "/api/v1/activities/export.csv?username=x&tz=Asia/Tokyo",
			"human", "admin", "DOWNLOAD_CSV", "AUDIT_LOG_CSV", "audit-log-filtered-activities-", "username=x"},
		{"a JSON Lines export by a machine account", fx.export, "/api/v1/activities/export.jsonl",
			"machine", "", "DOWNLOAD_JSON", "AUDIT_LOG_JSON_LINES", "audit-log-all-activities-", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := fx.get(t, c.token, c.path)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			disposition := resp.Header.Get("Content-Disposition")
			if !strings.HasPrefix(disposition, "attachment; filename="+c.fileName) {
				t.Fatalf("Content-Disposition %q", disposition)
			}
			recorded := fx.list(t, "activity="+c.system)
			if len(recorded) == 0 {
				t.Fatal("the export was not recorded")
			}
			a := recorded[0]
			var extra map[string]string
			if err := json.Unmarshal(a.Extra, &extra); err != nil {
				t.Fatal(err)
			}
			if string(a.Operator) != c.operator || a.Username != c.username || a.SubtypeSystemName != c.sub ||
				extra["filter"] != c.filter || !strings.HasSuffix(disposition, a.ObjectName) || extra["token"] == "" {
				t.Fatalf("recorded %+v with extra %v", a, extra)
			}
			if strings.Contains(string(a.Extra), "alt_") {
				t.Fatalf("a token secret reached the audit log: %s", a.Extra)
			}
		})
	}
}

func TestExportNeedsTheExportPermission(t *testing.T) {
	fx := newExportFixture(t, 10)
	for _, path := range []string{"/api/v1/activities/export.csv", "/api/v1/activities/export.jsonl"} {
		if resp, body := fx.get(t, fx.reader, path); resp.StatusCode != 403 {
			t.Fatalf("%s with a read-only token: %d %s", path, resp.StatusCode, body)
		}
	}
	if got := fx.list(t, "activity=DOWNLOAD_CSV&activity=DOWNLOAD_JSON"); len(got) != 0 {
		t.Fatalf("a refused export was recorded: %+v", got)
	}
	if resp, body := fx.get(t, fx.admin, "/api/v1/activities/export.csv?limit=5"); resp.StatusCode != 400 || !strings.Contains(string(body), `"field":"limit"`) {
		t.Fatalf("paging parameters on an export: %d %s", resp.StatusCode, body)
	}
}

// startExport begins a CSV export and reads its header and first row.
func (fx *exportFixture) startExport(t *testing.T) (*http.Response, *bufio.Reader, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fx.srv.URL+"/api/v1/activities/export.csv", nil)
	req.Header.Set("Authorization", "Bearer "+fx.admin)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	header, _ := r.ReadString('\n')
	first, _ := r.ReadString('\n')
	if !strings.HasPrefix(header, "Activity ID,") {
		t.Fatalf("export begins %q", header)
	}
	return resp, r, first
}

func TestExportIsASnapshot(t *testing.T) {
	const total = 20000
	fx := newExportFixture(t, total)
	head, err := fx.store.TreeHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The demo's activities, then the first start's and the tokens' own.
	stored := int(head.Size)
	resp, r, first := fx.startExport(t)
	defer resp.Body.Close()
	if !strings.HasPrefix(first, strconv.Itoa(stored+1)+",") {
		t.Fatalf("the first row is %q; want the export's own recording, the newest", first)
	}
	late := map[string]bool{}
	for range 3 {
		ids, err := fx.store.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}})
		if err != nil {
			t.Fatal(err)
		}
		late[strconv.FormatInt(ids[0], 10)] = true
	}
	records, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-fx.store.finished; err != nil {
		t.Fatal(err)
	}
	for _, rec := range records {
		if late[rec[0]] {
			t.Fatalf("activity %s, recorded while the export streamed, is in it", rec[0])
		}
	}
	if got := len(records) + 1; got != stored+1 {
		t.Fatalf("the export holds %d activities, want the %d recorded before it began", got, stored+1)
	}
}

func TestExportStopsWhenTheClientLeaves(t *testing.T) {
	const total = 30000
	fx := newExportFixture(t, total)
	resp, _, _ := fx.startExport(t)
	resp.Body.Close()
	select {
	case <-fx.store.finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the export still runs 10 s after the client left")
	}
	if n := fx.store.rows.Load(); n >= total {
		t.Fatalf("the server read all %d rows for a client that left after the first", n)
	}
}
