package http

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on hosts without zoneinfo

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/password"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/storetest"
	"github.com/auditlog/auditlog/tlog"
)

// These tests speak real HTTP to a Server over a real SQLite store, and pass
// every response through checkOpenAPI: what the server answers is what
// openapi.json documents.

// apiBase is the clock's start: the microseconds are kept, the nanoseconds dropped.
var apiBase = time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)

type apiEnv struct {
	db    *sqlite.DB
	dir   string
	clock *storetest.Clock
	srv   *httptest.Server
	// server is the handler behind srv.
	server *Server
	// full is a machine token with every permission.
	full   string
	signer *tlog.Signer
	// recorders are the recorders of the tokens token created, by secret.
	recorders map[string]auditlog.Recorder
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	return newAPIEnvWith(t, nil)
}

// newAPIEnvWith is newAPIEnv with a server configured by configure.
func newAPIEnvWith(t *testing.T, configure func(*Config)) *apiEnv {
	t.Helper()
	e := &apiEnv{dir: t.TempDir(), clock: storetest.NewClock(apiBase)}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: e.dir, Builtin: catalog.Builtin(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	skey, err := tlog.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = tlog.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, VerifierKey: e.signer.VerifierKey, Now: e.clock.Now, PasswordParams: testPasswordParams}
	if configure != nil {
		configure(&cfg)
	}
	e.server = NewServer(cfg)
	e.srv = httptest.NewServer(e.server)
	t.Cleanup(e.srv.Close) // runs before the store closes
	// The token's creation is the log's first activity, recorded a day
	// before the clock's start so that tests may record at earlier times.
	e.clock.Set(apiBase.Add(-48 * time.Hour))
	e.full = e.token(t, auditlog.NewToken{Name: "full", Scopes: auditlog.AllPermissions})
	e.clock.Set(apiBase)
	return e
}

// publish signs a checkpoint of the tree as it is and returns its size.
func (e *apiEnv) publish(t *testing.T) uint64 {
	t.Helper()
	c, err := (&tlog.Checkpointer{Store: e.db, Signer: e.signer}).Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.Size
}

// publishEmpty stores a signed checkpoint of the empty tree.
func (e *apiEnv) publishEmpty(t *testing.T) {
	t.Helper()
	note, err := e.signer.Sign(0, tlog.EmptyRoot())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.AddCheckpoint(context.Background(), auditlog.Checkpoint{TreeHead: auditlog.TreeHead{Size: 0, Root: tlog.EmptyRoot()}, Note: note}); err != nil {
		t.Fatal(err)
	}
}

// token creates an API token through the store and returns its secret.
func (e *apiEnv) token(t *testing.T, nt auditlog.NewToken) string {
	t.Helper()
	secret := auditlog.GenerateTokenSecret()
	tok, err := e.db.CreateToken(context.Background(), setup, nt, secret)
	if err != nil {
		t.Fatalf("creating token %q: %v", nt.Name, err)
	}
	if e.recorders == nil {
		e.recorders = map[string]auditlog.Recorder{}
	}
	e.recorders[secret] = auditlog.TokenRecorder(tok.ID)
	return secret
}

// sqlExec changes the store behind its back, for states the store has no
// method for yet (revoked tokens, disabled users).
func (e *apiEnv) sqlExec(t *testing.T, query string, args ...any) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, sqlite.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", query, n)
	}
}

// do sends one request, with Authorization: Bearer token unless token is
// empty and Content-Type: application/json on a body, and checks the answer
// against openapi.json.
func (e *apiEnv) do(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req := e.request(t, method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(t, req)
}

func (e *apiEnv) request(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost || method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// send sends req and checks the answer against openapi.json.
func (e *apiEnv) send(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	status, header, body := e.sendUnchecked(t, req)
	checkOpenAPI(t, req, status, header, body)
	return status, header, body
}

// sendUnchecked sends req without the OpenAPI check: only for paths that
// openapi.json cannot describe (unknown endpoints).
func (e *apiEnv) sendUnchecked(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s answered %d with X-Content-Type-Options %q, want nosniff", req.Method, req.URL.Path, resp.StatusCode, got)
	}
	return resp.StatusCode, resp.Header, body
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Index   *int   `json:"index"`
}

// wantError fails unless the answer is the error body with the given status,
// code and field (and batch index, or none when index is -1).
func wantError(t *testing.T, status int, body []byte, wantStatus int, code, field string, index int) apiError {
	t.Helper()
	var b struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Error == nil {
		t.Fatalf("answered %d with %s, want an error body", status, openAPITruncate(body))
	}
	e := *b.Error
	if status != wantStatus || e.Code != code || e.Field != field {
		t.Fatalf("answered %d %s on field %q (%s), want %d %s on field %q", status, e.Code, e.Field, e.Message, wantStatus, code, field)
	}
	switch {
	case index < 0 && e.Index != nil:
		t.Errorf("error has index %d, want none", *e.Index)
	case index >= 0 && (e.Index == nil || *e.Index != index):
		t.Errorf("error has index %v, want %d", e.Index, index)
	}
	if e.Message == "" {
		t.Errorf("error without a message")
	}
	return e
}

// record posts body and returns the recorded ids.
func (e *apiEnv) record(t *testing.T, body string) []int64 {
	t.Helper()
	status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body)
	if status != http.StatusCreated {
		t.Fatalf("recording %s: answered %d %s", body, status, resp)
	}
	var out struct {
		IDs []int64 `json:"ids"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatal(err)
	}
	return out.IDs
}

type apiList struct {
	Activities []auditlog.Activity `json:"activities"`
	NextCursor *string             `json:"next_cursor"`
}

// list gets one page of GET /api/v1/activities?query.
func (e *apiEnv) list(t *testing.T, query string) apiList {
	t.Helper()
	status, _, body := e.do(t, "GET", "/api/v1/activities?"+query, e.full, "")
	if status != http.StatusOK {
		t.Fatalf("listing ?%s: answered %d %s", query, status, body)
	}
	var l apiList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// count is the number of stored activities, read over the API.
func (e *apiEnv) count(t *testing.T) int {
	t.Helper()
	l := e.list(t, "limit=1000")
	if l.NextCursor != nil {
		t.Fatal("more than 1000 activities")
	}
	return len(l.Activities)
}

// detail gets GET /api/v1/activities/{id} as raw JSON.
func (e *apiEnv) detail(t *testing.T, id int64) []byte {
	t.Helper()
	status, _, body := e.do(t, "GET", fmt.Sprintf("/api/v1/activities/%d", id), e.full, "")
	if status != http.StatusOK {
		t.Fatalf("detail %d: answered %d %s", id, status, body)
	}
	return body
}

func (e *apiEnv) detailActivity(t *testing.T, id int64) auditlog.Activity {
	t.Helper()
	var a auditlog.Activity
	if err := json.Unmarshal(e.detail(t, id), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

const machineActivity = `{"activity_system_name":"APPLICATION_UPGRADE","operator":"machine"}`

func humanActivity(system, username string) string {
	return fmt.Sprintf(`{"activity_system_name":%q,"operator":"human","username":%q}`, system, username)
}

func batchOf(items ...string) string {
	return `{"activities":[` + strings.Join(items, ",") + `]}`
}

func TestAPIRecording(t *testing.T) {
	e := newAPIEnv(t)

	t.Run("recording one activity answers 201 with its id and the detail returns all 14 fields", func(t *testing.T) {
		body := `{
			"activity_system_name": "DOWNLOAD_CSV", "activity_subtype_system_name": "AUDIT_LOG_CSV",
			"operator": "human", "username": "jdoe",
			"extra": { "z": 1, "browser": "Firefox 131", "nested": {"b": [1, 2.50], "a": "ü"} },
			"object_id": "17", "object_type": "PermissionGroup", "object_name": "Keyers, \"day\" shift",
			"object_column_changes": [
				{"column_name": "permissions", "old_value": "read", "new_value": "read,write"},
				{"column_name": "note", "new_value": "line 1\nline 2"}
			]}`
		status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body)
		if status != http.StatusCreated {
			t.Fatalf("answered %d %s, want 201", status, resp)
		}
		var rec struct {
			IDs []int64 `json:"ids"`
		}
		if err := json.Unmarshal(resp, &rec); err != nil || len(rec.IDs) != 1 || rec.IDs[0] <= 0 {
			t.Fatalf("answered %s, want {\"ids\":[n]}", resp)
		}
		id := rec.IDs[0]

		var got map[string]json.RawMessage
		if err := json.Unmarshal(e.detail(t, id), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"id":                            strconv.FormatInt(id, 10),
			"created":                       `"2026-11-20T10:00:00.123456Z"`,
			"operator":                      `"human"`,
			"username":                      `"jdoe"`,
			"activity_display_name":         `"Download CSV"`,
			"activity_system_name":          `"DOWNLOAD_CSV"`,
			"activity_subtype_display_name": `"Audit Log CSV"`,
			"activity_subtype_system_name":  `"AUDIT_LOG_CSV"`,
			"extra":                         `{"browser":"Firefox 131","nested":{"a":"ü","b":[1,2.5]},"z":1}`,
			"object_id":                     `"17"`,
			"object_type":                   `"PermissionGroup"`,
			"object_name":                   `"Keyers, \"day\" shift"`,
			"object_column_changes": `[{"column_name":"permissions","old_value":"read","new_value":"read,write"},` +
				`{"column_name":"note","old_value":"","new_value":"line 1\nline 2"}]`,
			"recorded_by": `"` + string(e.recorders[e.full]) + `"`,
		}
		if len(got) != 14 {
			t.Errorf("the detail has %d keys, want 14: %v", len(got), got)
		}
		for key, w := range want {
			if g, ok := got[key]; !ok {
				t.Errorf("%s is missing", key)
			} else if string(g) != w {
				t.Errorf("%s = %s, want %s", key, g, w)
			}
		}
	})

	t.Run("an activity with only the required fields reads back with empty text, {} and []", func(t *testing.T) {
		id := e.record(t, machineActivity)[0]
		var got map[string]json.RawMessage
		if err := json.Unmarshal(e.detail(t, id), &got); err != nil {
			t.Fatal(err)
		}
		for key, w := range map[string]string{
			"username": `""`, "activity_display_name": `"Application upgrade"`, "activity_subtype_system_name": `""`,
			"activity_subtype_display_name": `""`, "extra": `{}`, "object_id": `""`, "object_type": `""`,
			"object_name": `""`, "object_column_changes": `[]`, "operator": `"machine"`,
		} {
			if string(got[key]) != w {
				t.Errorf("%s = %s, want %s", key, got[key], w)
			}
		}
	})

	t.Run("a batch is recorded in request order with strictly increasing ids", func(t *testing.T) {
		users := []string{"b0", "b1", "b2", "b3", "b4"}
		var items []string
		for _, u := range users {
			items = append(items, humanActivity("EDIT_USER", u))
		}
		before := e.count(t)
		ids := e.record(t, batchOf(items...))
		if len(ids) != len(users) {
			t.Fatalf("got %d ids for %d activities", len(ids), len(users))
		}
		for i, id := range ids {
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("ids %v do not strictly increase", ids)
			}
			if a := e.detailActivity(t, id); a.Username != users[i] {
				t.Errorf("id %d holds %q, want %q", id, a.Username, users[i])
			}
		}
		if n := e.count(t); n != before+len(users) {
			t.Errorf("%d activities after the batch, want %d", n, before+len(users))
		}
		next := e.record(t, machineActivity)
		if next[0] <= ids[len(ids)-1] {
			t.Errorf("id %d recorded after %d", next[0], ids[len(ids)-1])
		}
	})

	badItems := []struct {
		name  string
		item  string
		field string
	}{
		{"a human without username", `{"activity_system_name":"EDIT_USER","operator":"human"}`, "username"},
		{"a machine with a username", `{"activity_system_name":"EDIT_USER","operator":"machine","username":"x"}`, "username"},
		{"an unknown activity type", humanActivity("EDIT_USERS", "x"), "activity_system_name"},
		{"a subtype the type lacks", `{"activity_system_name":"EDIT_USER","activity_subtype_system_name":"AUDIT_LOG_CSV","operator":"machine"}`, "activity_subtype_system_name"},
		{"a missing operator", `{"activity_system_name":"EDIT_USER"}`, "operator"},
		{"an unknown operator", `{"activity_system_name":"EDIT_USER","operator":"robot"}`, "operator"},
		{"extra that is not an object", `{"activity_system_name":"EDIT_USER","operator":"machine","extra":[1]}`, "extra"},
		{"an event_id that is not a UUID", `{"activity_system_name":"EDIT_USER","operator":"machine","event_id":"42"}`, "event_id"},
		{"a change without a column name", `{"activity_system_name":"EDIT_USER","operator":"machine","object_column_changes":[{"new_value":"x"}]}`, "object_column_changes[0].column_name"},
		{"a control character in object_type", `{"activity_system_name":"EDIT_USER","operator":"machine","object_type":"a\u0007b"}`, "object_type"},
		{"a bidirectional override in username", `{"activity_system_name":"EDIT_USER","operator":"human","username":"admin\u202Efdp.exe"}`, "username"},
		{"NUL in object_name", `{"activity_system_name":"EDIT_USER","operator":"machine","object_name":"a\u0000b"}`, "object_name"},
		{"NUL in extra", `{"activity_system_name":"EDIT_USER","operator":"machine","extra":{"note":"a\u0000b"}}`, "extra"},
		{"an object_type over 128 bytes", `{"activity_system_name":"EDIT_USER","operator":"machine","object_type":"` + strings.Repeat("t", auditlog.MaxObjectTypeLen+1) + `"}`, "object_type"},
	}
	for _, c := range badItems {
		t.Run("a batch with "+c.name+" at index 2 answers 400 naming activities[2]."+c.field+" and records nothing", func(t *testing.T) {
			before := e.count(t)
			body := batchOf(humanActivity("EDIT_USER", "ok0"), machineActivity, c.item, humanActivity("EDIT_USER", "ok3"))
			status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body)
			wantError(t, status, resp, http.StatusBadRequest, auditlog.EINVALID, "activities[2]."+c.field, 2)
			if n := e.count(t); n != before {
				t.Errorf("%d activities after a refused batch, want %d", n, before)
			}
		})
		t.Run("a single activity with "+c.name+" answers 400 naming "+c.field+" without an index", func(t *testing.T) {
			before := e.count(t)
			status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, c.item)
			wantError(t, status, resp, http.StatusBadRequest, auditlog.EINVALID, c.field, -1)
			if n := e.count(t); n != before {
				t.Errorf("%d activities after a refused activity, want %d", n, before)
			}
		})
	}

	t.Run("free text keeps tabs, newlines and any other character but NUL, exactly", func(t *testing.T) {
		name := "Medical\tRecords\r\nline two \u202E\u0007\u200b"
		body, _ := json.Marshal(map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "object_name": name,
			"extra": map[string]string{"note": name}, "object_column_changes": []map[string]string{{"column_name": "notes", "new_value": name}}})
		ids := e.record(t, string(body))
		a, err := e.db.FindActivityByID(context.Background(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		var extra map[string]string
		if err := json.Unmarshal(a.Extra, &extra); err != nil {
			t.Fatal(err)
		}
		if a.ObjectName != name || extra["note"] != name || a.Changes[0].NewValue != name {
			t.Fatalf("stored %q, %q, %q; want %q each time", a.ObjectName, extra["note"], a.Changes[0].NewValue, name)
		}
	})

	t.Run("a repeated event_id returns the first id and records nothing new", func(t *testing.T) {
		const ev = "3f2b6c1e-8a4d-4f7e-9b1a-2c5d6e7f8a9b"
		item := func(eventID string) string {
			return fmt.Sprintf(`{"activity_system_name":"EDIT_USER","operator":"human","username":"idem","event_id":%q}`, eventID)
		}
		first := e.record(t, item(ev))
		n := e.count(t)
		again := e.record(t, item(ev))
		upper := e.record(t, item(strings.ToUpper(ev)))
		inBatch := e.record(t, batchOf(machineActivity, item(ev)))
		if again[0] != first[0] || upper[0] != first[0] || inBatch[1] != first[0] {
			t.Fatalf("first id %d; repeated: %d, upper-case: %d, in a batch: %d", first[0], again[0], upper[0], inBatch[1])
		}
		if got := e.count(t); got != n+1 { // only the batch's machine activity is new
			t.Fatalf("%d activities, want %d", got, n+1)
		}
	})
}

func TestAPIDecoderErrorsNameTheField(t *testing.T) {
	e := newAPIEnv(t)
	valid := machineActivity
	cases := []struct {
		name    string
		body    string
		field   string
		index   int
		message string
	}{
		{"an unknown key", `{"activity_system_name":"EDIT_USER","operator":"human","usernme":"jdoe"}`, "usernme", -1, `unknown field "usernme"`},
		{"an unknown key in a batch", batchOf(valid, `{"activity_system_name":"EDIT_USER","operator":"human","usernme":"jdoe"}`), "activities[1].usernme", 1, `unknown field "usernme"`},
		{"id sent by the client", `{"id":5,"activity_system_name":"EDIT_USER","operator":"machine"}`, "id", -1, "the server assigns id"},
		{"created sent by the client", `{"activity_system_name":"EDIT_USER","operator":"machine","created":"2026-11-20T10:00:00Z"}`, "created", -1, "the server assigns created"},
		{"activity_display_name sent by the client", `{"activity_system_name":"EDIT_USER","activity_display_name":"Edit User","operator":"machine"}`, "activity_display_name", -1, "comes from the catalogue; send activity_system_name only"},
		{"activity_subtype_display_name sent by the client", `{"activity_system_name":"EDIT_USER","activity_subtype_display_name":"x","operator":"machine"}`, "activity_subtype_display_name", -1, "send activity_subtype_system_name only"},
		{"id sent in a batch", batchOf(valid, valid, `{"id":1}`), "activities[2].id", 2, "the server assigns id"},
		{"recorded_by sent by the client", `{"activity_system_name":"USER_LOGIN","operator":"human","username":"admin","recorded_by":"auditlog"}`, "recorded_by", -1, "the server sets recorded_by"},
		{"a number as operator", `{"activity_system_name":"EDIT_USER","operator":5}`, "operator", -1, "operator must be a string, not a JSON number"},
		{"a number as operator in a batch", batchOf(`{"activity_system_name":"EDIT_USER","operator":5}`), "activities[0].operator", 0, "must be a string"},
		{"an object as username", `{"activity_system_name":"EDIT_USER","operator":"human","username":{}}`, "username", -1, "must be a string"},
		{"an object as object_column_changes", `{"activity_system_name":"EDIT_USER","operator":"machine","object_column_changes":{}}`, "object_column_changes", -1, "must be an array"},
		{"a number as an item of a batch", batchOf(valid, `7`), "activities[1]", 1, "activities[1] must be an object"},
		{"an array as body", `[` + valid + `]`, "body", -1, "the body must be a JSON object"},
		{"a string as body", `"hello"`, "body", -1, "must be a JSON object"},
		{"null as body", `null`, "body", -1, "must be a JSON object"},
		{"an empty body", ``, "body", -1, "must be a JSON object"},
		{"an empty batch", `{"activities":[]}`, "activities", -1, "at least one activity"},
		{"activities that is not an array", `{"activities":{}}`, "activities", -1, "must be an array"},
		{"a batch of 1001", batchOf(slices.Repeat([]string{valid}, auditlog.MaxBatch+1)...), "activities", -1, "more than 1000 activities"},
		{"activities followed by another key", `{"activities":[` + valid + `],"operator":"machine"}`, "activities", -1, "activities must be the only key"},
		{"activities after another key", `{"operator":"machine","activities":[` + valid + `]}`, "activities", -1, "activities must be the only key"},
		{"trailing garbage after one activity", valid + ` x`, "body", -1, "unexpected data after the JSON object"},
		{"a second object after one activity", valid + valid, "body", -1, "unexpected data"},
		{"trailing garbage after a batch", batchOf(valid) + `[]`, "body", -1, "unexpected data"},
		{"invalid JSON", `{"activity_system_name" "EDIT_USER"}`, "body", -1, "not valid JSON"},
		{"a truncated body", `{"activity_system_name":"EDIT_USER","operator":`, "body", -1, ""},
		{"a truncated batch", `{"activities":[` + valid, "body", -1, ""},
	}
	before := e.count(t)
	for _, c := range cases {
		t.Run(c.name+" answers 400 naming "+c.field, func(t *testing.T) {
			status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, c.body)
			got := wantError(t, status, resp, http.StatusBadRequest, auditlog.EINVALID, c.field, c.index)
			if !strings.Contains(got.Message, c.message) {
				t.Errorf("message %q does not contain %q", got.Message, c.message)
			}
		})
	}
	if n := e.count(t); n != before {
		t.Errorf("%d activities recorded by refused requests", n-before)
	}
}

func TestAPIBodyLimit(t *testing.T) {
	e := newAPIEnv(t)
	// body returns a single activity of exactly n bytes, its object_name padded.
	body := func(n int) string {
		head, tail := `{"activity_system_name":"EDIT_USER","operator":"machine","object_name":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	t.Run("a body over MaxRequestBytes answers 413 naming the limit and records nothing", func(t *testing.T) {
		before := e.count(t)
		status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body(auditlog.MaxRequestBytes+1))
		got := wantError(t, status, resp, http.StatusRequestEntityTooLarge, auditlog.ETOOLARGE, "", -1)
		if !strings.Contains(got.Message, strconv.Itoa(auditlog.MaxRequestBytes)) {
			t.Errorf("message %q does not name the limit %d", got.Message, auditlog.MaxRequestBytes)
		}
		if n := e.count(t) - before; n != 0 {
			t.Errorf("%d activities recorded", n)
		}
	})
	t.Run("a body of exactly MaxRequestBytes is read and judged on its content", func(t *testing.T) {
		status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body(auditlog.MaxRequestBytes))
		wantError(t, status, resp, http.StatusBadRequest, auditlog.EINVALID, "object_name", -1)
	})
}

func TestAPIAuthentication(t *testing.T) {
	e := newAPIEnv(t)
	headers := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		status int
	}{
		{"no Authorization header", "", http.StatusUnauthorized},
		{"a Basic header", "Basic " + e.full, http.StatusUnauthorized},
		{"Bearer without a token", "Bearer", http.StatusUnauthorized},
		{"Bearer with blanks only", "Bearer    ", http.StatusUnauthorized},
		{"the token without a scheme", e.full, http.StatusUnauthorized},
		{"a Token scheme", "Token " + e.full, http.StatusUnauthorized},
		{"a Bearer token with one character changed", "Bearer " + e.full[:len(e.full)-1] + flip(e.full[len(e.full)-1]), http.StatusUnauthorized},
		{"a Bearer token with a suffix", "Bearer " + e.full + "x", http.StatusUnauthorized},
		{"an unknown alt_ token", "Bearer " + auditlog.GenerateTokenSecret(), http.StatusUnauthorized},
		{"a valid Bearer token", "Bearer " + e.full, http.StatusOK},
		{"the scheme in lower case", "bearer " + e.full, http.StatusOK},
		{"blanks around the token", "Bearer   " + e.full + "  ", http.StatusOK},
	}
	for _, h := range headers {
		t.Run(fmt.Sprintf("%s answers %d", h.name, h.status), func(t *testing.T) {
			req := e.request(t, "GET", "/api/v1/activities", "")
			if h.header != "" {
				req.Header.Set("Authorization", h.header)
			}
			status, header, body := e.send(t, req)
			if h.status == http.StatusOK {
				if status != http.StatusOK {
					t.Fatalf("answered %d %s", status, body)
				}
				return
			}
			wantError(t, status, body, http.StatusUnauthorized, auditlog.EUNAUTHORIZED, "", -1)
			if got := header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestAPIActivityTypes(t *testing.T) {
	e := newAPIEnv(t)
	reader := e.token(t, auditlog.NewToken{Name: "reader", Scopes: []auditlog.Permission{auditlog.PermActivitiesRead}})

	t.Run("any valid token lists the catalogue", func(t *testing.T) {
		status, _, body := e.do(t, "GET", "/api/v1/activity-types", reader, "")
		if status != http.StatusOK {
			t.Fatalf("answered %d %s", status, body)
		}
		var l struct {
			ActivityTypes []auditlog.ActivityType `json:"activity_types"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		if len(l.ActivityTypes) != len(catalog.Builtin()) {
			t.Errorf("%d types listed, want the %d of the catalogue", len(l.ActivityTypes), len(catalog.Builtin()))
		}
		found := false
		for _, at := range l.ActivityTypes {
			if at.SystemName == "DOWNLOAD_CSV" {
				found = at.DisplayName == "Download CSV" && slices.Contains(at.Subtypes, auditlog.Subtype{SystemName: "AUDIT_LOG_CSV", DisplayName: "Audit Log CSV"})
			}
		}
		if !found {
			t.Errorf("DOWNLOAD_CSV with subtype AUDIT_LOG_CSV is not listed as in the catalogue")
		}
	})

	t.Run("an admin registers a type, derived names filled in, and it can be recorded", func(t *testing.T) {
		status, _, body := e.do(t, "POST", "/api/v1/activity-types", e.full,
			`{"display_name":"Approve Invoice(s)","description":"An invoice is approved","introduced_in":"2.0","subtypes":[{"display_name":"By Rule"},{"system_name":"MANUAL","display_name":"Manually"}]}`)
		if status != http.StatusCreated {
			t.Fatalf("answered %d %s", status, body)
		}
		var at auditlog.ActivityType
		if err := json.Unmarshal(body, &at); err != nil {
			t.Fatal(err)
		}
		if at.SystemName != "APPROVE_INVOICE_S" || !at.Custom || len(at.Subtypes) != 2 || at.Subtypes[0].SystemName != "BY_RULE" {
			t.Fatalf("registered %+v", at)
		}
		id := e.record(t, `{"activity_system_name":"APPROVE_INVOICE_S","activity_subtype_system_name":"MANUAL","operator":"machine"}`)[0]
		if a := e.detailActivity(t, id); a.DisplayName != "Approve Invoice(s)" || a.SubtypeDisplayName != "Manually" {
			t.Errorf("recorded %+v", a)
		}
	})

	conflicts := []struct{ name, body string }{
		{"a type registered before", `{"display_name":"Approve Invoice(s)"}`},
		{"a type registered before under another display name", `{"system_name":"APPROVE_INVOICE_S","display_name":"Something else"}`},
		{"a catalogue type", `{"display_name":"Edit User"}`},
	}
	for _, c := range conflicts {
		t.Run("registering "+c.name+" answers 409", func(t *testing.T) {
			status, _, body := e.do(t, "POST", "/api/v1/activity-types", e.full, c.body)
			wantError(t, status, body, http.StatusConflict, auditlog.ECONFLICT, "system_name", -1)
		})
	}

	bad := []struct{ name, body, field string }{
		{"no display name", `{"description":"x"}`, "display_name"},
		{"a blank display name", `{"display_name":"   "}`, "display_name"},
		{"a lower-case system name", `{"system_name":"lower_case","display_name":"x"}`, "system_name"},
		{"a display name with nothing to derive a system name from", `{"display_name":"!!!"}`, "system_name"},
		{"a subtype listed twice", `{"display_name":"Twice","subtypes":[{"display_name":"A b"},{"display_name":"a-B"}]}`, "subtypes[1].system_name"},
		{"a subtype without a display name", `{"display_name":"Sub","subtypes":[{"system_name":"X"}]}`, "subtypes[0].display_name"},
		{"an unknown key", `{"display_name":"x","colour":"red"}`, "colour"},
		{"a number as display name", `{"display_name":5}`, "display_name"},
		{"invalid JSON", `{"display_name" "x"}`, "body"},
	}
	for _, c := range bad {
		t.Run("registering a type with "+c.name+" answers 400 naming "+c.field, func(t *testing.T) {
			status, _, body := e.do(t, "POST", "/api/v1/activity-types", e.full, c.body)
			wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, c.field, -1)
		})
	}

	t.Run("a token without admin cannot register a type", func(t *testing.T) {
		status, _, body := e.do(t, "POST", "/api/v1/activity-types", reader, `{"display_name":"Sneaky"}`)
		wantError(t, status, body, http.StatusForbidden, auditlog.EFORBIDDEN, "", -1)
	})
}

// apiFixture records activities at known times and returns them as the
// detail endpoint reads them, oldest first.
func apiFixture(t *testing.T, e *apiEnv) []auditlog.Activity {
	t.Helper()
	start := time.Date(2026, 11, 19, 20, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := range 40 {
		times = append(times, start.Add(time.Duration(i)*97*time.Minute+time.Duration(i)*time.Microsecond))
	}
	// Either side of midnight UTC, which is 00:30 and 01:30 in Berlin, and
	// the last and first microsecond of a UTC day.
	times = append(times, time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC), time.Date(2026, 11, 21, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 20, 23, 59, 59, 999999000, time.UTC), time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	slices.SortFunc(times, time.Time.Compare)

	types := []string{"EDIT_USER", "CREATE_USER", "USER_LOGIN", "LOGIN_FAILED", "DOWNLOAD_CSV", "EDIT_PERMISSION_GROUP"}
	users := []string{"alice", "bob", "carol", "Dave"}
	objectTypes := []string{"User", "PermissionGroup", "Flow"}
	var ids []int64
	for i, at := range times {
		e.clock.Set(at)
		a := map[string]any{
			"activity_system_name": types[i%len(types)], "operator": "human", "username": users[i%len(users)],
			"object_type": objectTypes[i%len(objectTypes)], "object_id": strconv.Itoa(i % 7),
		}
		if i%5 == 0 {
			a["operator"], a["username"] = "machine", ""
		}
		b, _ := json.Marshal(a)
		ids = append(ids, e.record(t, string(b))...)
	}
	stored := make([]auditlog.Activity, len(ids))
	for i, id := range ids {
		stored[i] = e.detailActivity(t, id)
		if !stored[i].Created.Equal(times[i]) {
			t.Fatalf("activity %d created %v, want %v", id, stored[i].Created, times[i])
		}
	}
	// The activities recorded before the fixture's (the environment's own)
	// are part of what filters select too.
	for id := ids[0] - 1; id > 0; id-- {
		stored = append([]auditlog.Activity{e.detailActivity(t, id)}, stored...)
	}
	return stored
}

func TestAPIListFilters(t *testing.T) {
	e := newAPIEnv(t)
	stored := apiFixture(t, e)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	late := stored[slices.IndexFunc(stored, func(a auditlog.Activity) bool {
		return a.Created.Equal(time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC))
	})]

	in := func(from, until time.Time) func(auditlog.Activity) bool { // from inclusive, until exclusive
		return func(a auditlog.Activity) bool { return !a.Created.Before(from) && a.Created.Before(until) }
	}
	day := func(loc *time.Location, d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, loc) }
	oneOf := func(get func(auditlog.Activity) string, values ...string) func(auditlog.Activity) bool {
		return func(a auditlog.Activity) bool { return slices.Contains(values, get(a)) }
	}
	system := func(a auditlog.Activity) string { return a.SystemName }
	user := func(a auditlog.Activity) string { return a.Username }
	and := func(ps ...func(auditlog.Activity) bool) func(auditlog.Activity) bool {
		return func(a auditlog.Activity) bool {
			for _, p := range ps {
				if !p(a) {
					return false
				}
			}
			return true
		}
	}
	from, to := stored[10].Created, stored[20].Created

	cases := []struct {
		name  string
		query url.Values
		match func(auditlog.Activity) bool
	}{
		{"no filter lists everything", url.Values{}, func(auditlog.Activity) bool { return true }},
		{"one activity", url.Values{"activity": {"USER_LOGIN"}}, oneOf(system, "USER_LOGIN")},
		{"a repeated activity means either", url.Values{"activity": {"USER_LOGIN", "LOGIN_FAILED"}}, oneOf(system, "USER_LOGIN", "LOGIN_FAILED")},
		{"an activity nobody recorded", url.Values{"activity": {"RESET_MFA"}}, func(auditlog.Activity) bool { return false }},
		{"operator machine", url.Values{"operator": {"machine"}}, func(a auditlog.Activity) bool { return a.Operator == auditlog.OperatorMachine }},
		{"operator human", url.Values{"operator": {"human"}}, func(a auditlog.Activity) bool { return a.Operator == auditlog.OperatorHuman }},
		{"a username", url.Values{"username": {"bob"}}, oneOf(user, "bob")},
		{"two usernames", url.Values{"username": {"bob", "Dave"}}, oneOf(user, "bob", "Dave")},
		{"ids, one of them absent", url.Values{"id": {strconv.FormatInt(stored[3].ID, 10), strconv.FormatInt(stored[30].ID, 10), "999999"}},
			func(a auditlog.Activity) bool { return a.ID == stored[3].ID || a.ID == stored[30].ID }},
		{"an object type", url.Values{"object_type": {"Flow"}}, oneOf(func(a auditlog.Activity) string { return a.ObjectType }, "Flow")},
		{"an object type and id", url.Values{"object_type": {"Flow"}, "object_id": {"3"}},
			func(a auditlog.Activity) bool { return a.ObjectType == "Flow" && a.ObjectID == "3" }},
		{"created_on a day in UTC", url.Values{"created_on": {"2026-11-21"}}, in(day(time.UTC, 21), day(time.UTC, 22))},
		{"created_on a day in Berlin", url.Values{"created_on": {"2026-11-21"}, "tz": {"Europe/Berlin"}}, in(day(berlin, 21), day(berlin, 22))},
		{"created_from and created_to dates cover both whole days", url.Values{"created_from": {"2026-11-20"}, "created_to": {"2026-11-21"}}, in(day(time.UTC, 20), day(time.UTC, 22))},
		{"created_to alone is through the end of that day", url.Values{"created_to": {"2026-11-20"}}, in(time.Time{}, day(time.UTC, 21))},
		{"created_from alone a date in Berlin", url.Values{"created_from": {"2026-11-21"}, "tz": {"Europe/Berlin"}}, in(day(berlin, 21), day(time.UTC, 30))},
		{"RFC 3339 bounds are inclusive instants", url.Values{"created_from": {from.Format(time.RFC3339Nano)}, "created_to": {to.Format(time.RFC3339Nano)}},
			in(from, to.Add(time.Nanosecond))},
		{"an RFC 3339 bound with an offset", url.Values{"created_from": {from.In(berlin).Format(time.RFC3339Nano)}}, in(from, day(time.UTC, 30))},
		{"a day without activities", url.Values{"created_on": {"2026-12-24"}}, func(auditlog.Activity) bool { return false }},
		{"activity, operator, username and a date range together",
			url.Values{"activity": {"EDIT_USER", "CREATE_USER", "USER_LOGIN"}, "operator": {"human"}, "username": {"alice", "carol", "bob"}, "created_from": {"2026-11-20"}, "created_to": {"2026-11-21"}},
			and(oneOf(system, "EDIT_USER", "CREATE_USER", "USER_LOGIN"), oneOf(user, "alice", "carol", "bob"), in(day(time.UTC, 20), day(time.UTC, 22)))},
		{"empty values are ignored", url.Values{"activity": {""}, "username": {""}, "operator": {""}, "tz": {""}}, func(auditlog.Activity) bool { return true }},
	}
	for _, c := range cases {
		want := []int64{}
		for _, a := range stored {
			if c.match(a) {
				want = append(want, a.ID)
			}
		}
		sort.Slice(want, func(i, j int) bool { return want[i] > want[j] })
		limits := []int{1000, 3}
		if len(want) > 0 {
			limits = append(limits, len(want)) // exactly one full page: no next_cursor
		}
		for _, limit := range limits {
			t.Run(fmt.Sprintf("%s, in pages of %d, lists what a scan of every activity selects", c.name, limit), func(t *testing.T) {
				got := e.collect(t, c.query, limit)
				if !slices.Equal(got, want) {
					t.Fatalf("?%s: got %v, want %v", c.query.Encode(), got, want)
				}
			})
		}
	}

	t.Run("an activity at 23:30 UTC is on that day in UTC and on the next in Berlin", func(t *testing.T) {
		has := func(q string) bool {
			for _, a := range e.list(t, q+"&limit=1000").Activities {
				if a.ID == late.ID {
					return true
				}
			}
			return false
		}
		if !has("created_on=2026-11-20") || has("created_on=2026-11-21") {
			t.Errorf("in UTC, activity %d (%v) is not on 2026-11-20 only", late.ID, late.Created)
		}
		if !has("created_on=2026-11-21&tz=Europe/Berlin") || has("created_on=2026-11-20&tz=Europe/Berlin") {
			t.Errorf("in Berlin, activity %d (%v) is not on 2026-11-21 only", late.ID, late.Created)
		}
	})
}

// collect follows next_cursor from the first page to the last and returns
// the ids listed, checking the size of every page.
func (e *apiEnv) collect(t *testing.T, q url.Values, limit int) []int64 {
	t.Helper()
	ids := []int64{}
	cursor := ""
	for page := 0; ; page++ {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", strconv.Itoa(limit))
		if cursor != "" {
			pq.Set("cursor", cursor)
		}
		l := e.list(t, pq.Encode())
		if len(l.Activities) > limit {
			t.Fatalf("page %d holds %d activities, over the limit %d", page, len(l.Activities), limit)
		}
		for _, a := range l.Activities {
			ids = append(ids, a.ID)
		}
		if l.NextCursor == nil {
			return ids
		}
		if len(l.Activities) != limit {
			t.Fatalf("page %d holds %d activities and has a next page; want full pages of %d", page, len(l.Activities), limit)
		}
		if *l.NextCursor == "" || *l.NextCursor == cursor {
			t.Fatalf("page %d: next_cursor %q", page, *l.NextCursor)
		}
		if page > 100 {
			t.Fatal("paging does not end")
		}
		cursor = *l.NextCursor
	}
}

func TestAPIListPaging(t *testing.T) {
	t.Run("without a limit a page holds 50 activities and points to the next", func(t *testing.T) {
		e := newAPIEnv(t)
		ids := e.record(t, batchOf(slices.Repeat([]string{machineActivity}, auditlog.DefaultLimit+1)...))
		l := e.list(t, "activity=APPLICATION_UPGRADE")
		if len(l.Activities) != auditlog.DefaultLimit || l.NextCursor == nil {
			t.Fatalf("the default page holds %d activities, next_cursor %v; want %d and a cursor", len(l.Activities), l.NextCursor, auditlog.DefaultLimit)
		}
		last := e.list(t, "activity=APPLICATION_UPGRADE&cursor="+url.QueryEscape(*l.NextCursor))
		if len(last.Activities) != 1 || last.Activities[0].ID != ids[0] || last.NextCursor != nil {
			t.Fatalf("the second page holds %v, next_cursor %v; want only %d and null", idsOfList(last), last.NextCursor, ids[0])
		}
	})
	t.Run("activities recorded while paging do not shift the pages", testAPIPagingWhileRecording)
}

func testAPIPagingWhileRecording(t *testing.T) {
	e := newAPIEnv(t)
	var ids []int64
	for i := range 7 {
		ids = append(ids, e.record(t, humanActivity("EDIT_USER", fmt.Sprintf("u%d", i)))...)
	}
	first := e.list(t, "activity=EDIT_USER&limit=3")
	if first.NextCursor == nil || len(first.Activities) != 3 || first.Activities[0].ID != ids[6] {
		t.Fatalf("first page %+v", first)
	}
	e.record(t, humanActivity("EDIT_USER", "late")) // must not shift the pages already begun
	got := idsOfList(first)
	cursor := *first.NextCursor
	for cursor != "" {
		l := e.list(t, "activity=EDIT_USER&limit=3&cursor="+url.QueryEscape(cursor))
		got = append(got, idsOfList(l)...)
		cursor = ""
		if l.NextCursor != nil {
			cursor = *l.NextCursor
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
}

func idsOfList(l apiList) []int64 {
	var ids []int64
	for _, a := range l.Activities {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestAPIListRefusesBadParameters(t *testing.T) {
	e := newAPIEnv(t)
	cases := []struct {
		name, query, field string
	}{
		{"an unknown parameter", "colour=red", "colour"},
		{"a misspelt filter", "usernme=bob", "usernme"},
		{"limit 0", "limit=0", "limit"},
		{"limit 1001", "limit=1001", "limit"},
		{"limit x", "limit=x", "limit"},
		{"limit given twice", "limit=5&limit=6", "limit"},
		{"a cursor this server did not issue", "cursor=bad", "cursor"},
		{"a cursor of id 0", "cursor=" + auditlog.EncodeCursor(0), "cursor"},
		{"operator robot", "operator=robot", "operator"},
		{"id -1", "id=-1", "id"},
		{"id abc", "id=abc", "id"},
		{"created_on 2026-13-01", "created_on=2026-13-01", "created_on"},
		{"created_from not a time", "created_from=yesterday", "created_from"},
		{"tz Mars/Base", "tz=Mars/Base", "tz"},
		{"tz Local", "tz=Local", "tz"},
		{"created_on together with created_from", "created_on=2026-11-20&created_from=2026-11-19", "created_from"},
		{"created_on together with created_to", "created_on=2026-11-20&created_to=2026-11-21", "created_to"},
		{"created_to before created_from", "created_from=2026-11-21&created_to=2026-11-20", "created_to"},
		{"a filter repeated 101 times", strings.Repeat("&activity=EDIT_USER", auditlog.MaxFilterValues+1)[1:], "activity"},
		{"a username over 256 bytes", "username=" + strings.Repeat("u", auditlog.MaxUsernameLen+1), "username"},
		{"a control character in object_id", "object_id=a%07b", "object_id"},
	}
	for _, c := range cases {
		t.Run(c.name+" answers 400 naming "+c.field, func(t *testing.T) {
			status, _, body := e.do(t, "GET", "/api/v1/activities?"+c.query, e.full, "")
			wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, c.field, -1)
		})
	}
	t.Run("a filter repeated exactly 100 times is accepted", func(t *testing.T) {
		q := strings.Repeat("&activity=EDIT_USER", auditlog.MaxFilterValues)[1:]
		if status, _, body := e.do(t, "GET", "/api/v1/activities?"+q, e.full, ""); status != http.StatusOK {
			t.Fatalf("answered %d %s", status, body)
		}
	})
}

func TestAPIDetailAndUnknownPaths(t *testing.T) {
	e := newAPIEnv(t)
	for _, c := range []struct{ path, field string }{
		{"/api/v1/activities/abc", "id"},
		{"/api/v1/activities/0", "id"},
		{"/api/v1/activities/-1", "id"},
		{"/api/v1/activities/1.5", "id"},
		{"/api/v1/activities/99999999999999999999", "id"},
	} {
		t.Run("GET "+c.path+" answers 400 naming id", func(t *testing.T) {
			status, _, body := e.do(t, "GET", c.path, e.full, "")
			wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, c.field, -1)
		})
	}
	t.Run("GET an activity that does not exist answers 404", func(t *testing.T) {
		status, _, body := e.do(t, "GET", "/api/v1/activities/999999", e.full, "")
		wantError(t, status, body, http.StatusNotFound, auditlog.ENOTFOUND, "", -1)
	})
	// openapi.json describes the endpoints there are, so these answers are
	// checked against the Error schema by hand instead.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/nope"},
		{"POST", "/api/v1/nope"},
		{"GET", "/api/v2/activities"},
	} {
		t.Run(c.method+" "+c.path+" answers 404 with an error body", func(t *testing.T) {
			req := e.request(t, c.method, c.path, "")
			req.Header.Set("Authorization", "Bearer "+e.full)
			status, header, body := e.sendUnchecked(t, req)
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			wantError(t, status, body, http.StatusNotFound, auditlog.ENOTFOUND, "", -1)
		})
	}
}

func TestAPIOperationalEndpoints(t *testing.T) {
	e := newAPIEnv(t)
	t.Run("healthz answers 200", func(t *testing.T) {
		if status, _, body := e.do(t, "GET", "/healthz", "", ""); status != http.StatusOK {
			t.Fatalf("answered %d %s", status, body)
		}
	})
	t.Run("readyz answers 200 while the store is reachable", func(t *testing.T) {
		if status, _, body := e.do(t, "GET", "/readyz", "", ""); status != http.StatusOK {
			t.Fatalf("answered %d %s", status, body)
		}
	})
	t.Run("metrics count requests and recorded activities", func(t *testing.T) {
		e.record(t, batchOf(machineActivity, machineActivity))
		e.record(t, machineActivity)
		status, _, body := e.do(t, "GET", "/metrics", e.full, "")
		if status != http.StatusOK {
			t.Fatalf("answered %d %s", status, body)
		}
		for _, line := range []string{
			"auditlog_activities_recorded_total 3\n",
			`auditlog_http_requests_total{route="POST /api/v1/activities",status="201"} 2` + "\n",
			"# TYPE auditlog_http_request_duration_seconds histogram\n",
		} {
			if !strings.Contains(string(body), line) {
				t.Errorf("metrics lack %q", line)
			}
		}
	})
	t.Run("openapi.json is the embedded document", func(t *testing.T) {
		status, header, body := e.do(t, "GET", "/api/v1/openapi.json", "", "")
		if status != http.StatusOK || string(body) != string(openAPIDocument) {
			t.Fatalf("answered %d with %d bytes, want the %d bytes of openapi.json", status, len(body), len(openAPIDocument))
		}
		if ct := header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("readyz answers 503 once the store is closed", func(t *testing.T) {
		closed := newAPIEnv(t)
		if err := closed.db.Close(); err != nil {
			t.Fatal(err)
		}
		if status, _, body := closed.do(t, "GET", "/readyz", "", ""); status != http.StatusServiceUnavailable {
			t.Fatalf("answered %d %s, want 503", status, body)
		}
		if status, _, body := closed.do(t, "GET", "/healthz", "", ""); status != http.StatusOK {
			t.Fatalf("healthz answered %d %s, want 200: the process is alive", status, body)
		}
	})
}

func TestAPISecurityHeaders(t *testing.T) {
	e := newAPIEnv(t)
	id := e.record(t, machineActivity)[0]
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"a list", "GET", "/api/v1/activities", e.full, "", http.StatusOK},
		{"a detail", "GET", fmt.Sprintf("/api/v1/activities/%d", id), e.full, "", http.StatusOK},
		{"a recording", "POST", "/api/v1/activities", e.full, machineActivity, http.StatusCreated},
		{"the catalogue", "GET", "/api/v1/activity-types", e.full, "", http.StatusOK},
		{"a 400", "GET", "/api/v1/activities?colour=red", e.full, "", http.StatusBadRequest},
		{"a 401", "GET", "/api/v1/activities", "", "", http.StatusUnauthorized},
		{"a 404", "GET", "/api/v1/activities/999999", e.full, "", http.StatusNotFound},
	} {
		t.Run(c.name+" is not sniffed, cached or framed", func(t *testing.T) {
			status, header, body := e.do(t, c.method, c.path, c.token, c.body)
			if status != c.status {
				t.Fatalf("answered %d %s, want %d", status, body, c.status)
			}
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
				"Content-Type":           "application/json",
			} {
				if got := header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestAPISecretsAreNeverEchoed(t *testing.T) {
	e := newAPIEnv(t)
	secret := "alt_secretvalue" + strings.TrimPrefix(auditlog.GenerateTokenSecret(), auditlog.TokenPrefix)
	reader := e.token(t, auditlog.NewToken{Name: "reader", Scopes: []auditlog.Permission{auditlog.PermActivitiesRead}})
	cases := []struct {
		name   string
		req    func() *http.Request
		secret string
		status int
	}{
		{"an invalid bearer token", func() *http.Request {
			r := e.request(t, "GET", "/api/v1/activities", "")
			r.Header.Set("Authorization", "Bearer "+secret)
			return r
		}, secret, http.StatusUnauthorized},
		{"a token in a Basic header", func() *http.Request {
			r := e.request(t, "GET", "/api/v1/activities", "")
			r.Header.Set("Authorization", "Basic "+secret)
			return r
		}, secret, http.StatusUnauthorized},
		{"a valid token without the permission", func() *http.Request {
			r := e.request(t, "POST", "/api/v1/activities", machineActivity)
			r.Header.Set("Authorization", "Bearer "+reader)
			return r
		}, reader, http.StatusForbidden},
		{"a token in an unknown query parameter", func() *http.Request {
			r := e.request(t, "GET", "/api/v1/activities?access_token="+secret, "")
			r.Header.Set("Authorization", "Bearer "+reader)
			return r
		}, secret, http.StatusBadRequest},
		{"a token in an unknown body key", func() *http.Request {
			r := e.request(t, "POST", "/api/v1/activities", `{"activity_system_name":"EDIT_USER","operator":"machine","token":"`+secret+`"}`)
			r.Header.Set("Authorization", "Bearer "+e.full)
			return r
		}, secret, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name+" is answered without the token's text", func(t *testing.T) {
			status, header, body := e.send(t, c.req())
			if status != c.status {
				t.Fatalf("answered %d %s, want %d", status, body, c.status)
			}
			for _, s := range []string{c.secret, c.secret[len(auditlog.TokenPrefix):], c.secret[8:24]} {
				if strings.Contains(string(body), s) {
					t.Errorf("the body holds the token text %q: %s", s, body)
				}
				for name, values := range header {
					if strings.Contains(strings.Join(values, " "), s) {
						t.Errorf("header %s holds the token text", name)
					}
				}
			}
		})
	}
}

// setup is the actor of the changes a test makes through the store directly.
var setup = auditlog.MachineActor(map[string]string{"client": "test setup"})

// testPasswordParams make password hashes cheap in tests; the costs of
// production hashes are password.Default.
var testPasswordParams = password.Params{Memory: 64, Time: 1, Threads: 1}

func TestARecordingWhoseClientLeftIsAnsweredAsCancelledAndRecordsNothing(t *testing.T) {
	var logged strings.Builder
	e := newAPIEnvWith(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	before := e.count(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client has gone before the store got to the request
	req := e.request(t, http.MethodPost, "/api/v1/activities", humanActivity("EDIT_USER", "jdoe")).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+e.full)
	rec := httptest.NewRecorder()
	e.server.ServeHTTP(rec, req)
	if rec.Code != statusClientClosedRequest {
		t.Fatalf("status %d, want %d: %s", rec.Code, statusClientClosedRequest, rec.Body)
	}
	var body struct{ Error apiError }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != auditlog.ECANCELED {
		t.Fatalf("body %s (%v), want code %q", rec.Body, err, auditlog.ECANCELED)
	}
	if strings.Contains(logged.String(), "request failed") {
		t.Fatalf("a cancelled request was logged as a failure:\n%s", logged.String())
	}
	if n := e.count(t); n != before {
		t.Fatalf("%d activities after a cancelled request, want %d", n, before)
	}
}

func TestAnActivityNameNotInTheCatalogueIsRefusedByEveryReader(t *testing.T) {
	e := newAPIEnv(t)
	before := e.count(t)
	for _, path := range []string{"/api/v1/activities?activity=NOPE", "/api/v1/activities?activity=USER_LOGIN&activity=NOPE",
		"/api/v1/activities/export.csv?activity=NOPE", "/api/v1/activities/export.jsonl?activity=NOPE"} {
		status, _, body := e.do(t, "GET", path, e.full, "")
		got := wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "activity", -1)
		if !strings.Contains(got.Message, `"NOPE"`) {
			t.Errorf("%s: %q does not name the activity", path, got.Message)
		}
	}
	if n := e.count(t); n != before {
		t.Errorf("the refused reads recorded %d activities", n-before)
	}
	if status, _, _ := e.do(t, "GET", "/api/v1/activities?activity=USER_LOGIN", e.full, ""); status != http.StatusOK {
		t.Errorf("a name of the catalogue: %d", status)
	}
}

// /metrics answers the admin permission or the scraper's token, no one else.
func TestMetricsNeedTheAdminPermissionOrTheMetricsToken(t *testing.T) {
	const scraper = "a-long-random-scraper-token"
	e := newAPIEnvWith(t, func(c *Config) { c.MetricsToken = scraper })
	reader := e.token(t, auditlog.NewToken{Name: "reader", Scopes: []auditlog.Permission{auditlog.PermActivitiesRead}})
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"a wrong scraper token", scraper + "x", http.StatusUnauthorized},
		{"a token without admin", reader, http.StatusForbidden},
		{"the scraper's token", scraper, http.StatusOK},
		{"a token with admin", e.full, http.StatusOK},
	} {
		if status, _, body := e.do(t, "GET", "/metrics", c.token, ""); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.want)
		}
	}
}

// TestEveryActivitySaysWhoRecordedIt checks recorded_by, which the server
// sets: the token or the logged-in user that recorded through the API, the
// service for its own records; and that event ids are each recorder's own.
func TestEveryActivitySaysWhoRecordedIt(t *testing.T) {
	e := newAPIEnv(t)
	e.addUser(t, "audrey", "System Admin")
	second := e.token(t, auditlog.NewToken{Name: "second app", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite}})
	recordedBy := func(id int64) auditlog.Recorder { return e.detailActivity(t, id).RecordedBy }

	const event = "3f2b6c1e-8a4d-4f7e-9b1a-2c5d6e7f8a9b"
	withEvent := `{"activity_system_name":"EDIT_USER","operator":"machine","object_name":"first","event_id":"` + event + `"}`
	first := e.record(t, withEvent)[0]
	if got := recordedBy(first); got != e.recorders[e.full] {
		t.Errorf("recorded with a token: recorded_by %q, want %q", got, e.recorders[e.full])
	}

	// Another application's same event id records its own activity.
	status, _, resp := e.do(t, "POST", "/api/v1/activities", second, withEvent)
	var ids struct{ IDs []int64 }
	if status != http.StatusCreated || json.Unmarshal(resp, &ids) != nil || len(ids.IDs) != 1 || ids.IDs[0] == first {
		t.Fatalf("the same event_id from another token: %d %s, want a new id", status, resp)
	}
	if got := recordedBy(ids.IDs[0]); got != e.recorders[second] {
		t.Errorf("the second token's activity: recorded_by %q, want %q", got, e.recorders[second])
	}
	// The first application's retry gets its first id back.
	if again := e.record(t, withEvent); again[0] != first {
		t.Errorf("a retry got id %d, want %d", again[0], first)
	}

	// The same event id for other content: 409 naming the field, nothing recorded.
	before := e.count(t)
	changed := strings.Replace(withEvent, `"first"`, `"changed"`, 1)
	status, _, resp = e.do(t, "POST", "/api/v1/activities", e.full, changed)
	if got := wantError(t, status, resp, http.StatusConflict, auditlog.ECONFLICT, "event_id", -1); !strings.Contains(got.Message, fmt.Sprintf("activity %d", first)) {
		t.Errorf("the conflict says %q, not which activity holds the event id", got.Message)
	}
	status, _, resp = e.do(t, "POST", "/api/v1/activities", e.full, batchOf(machineActivity, changed))
	wantError(t, status, resp, http.StatusConflict, auditlog.ECONFLICT, "activities[1].event_id", 1)
	if n := e.count(t); n != before {
		t.Errorf("%d activities recorded by refused requests", n-before)
	}

	// A logged-in user recording through the API.
	login := e.login(t, "audrey", testPassword, "", nil, nil)
	if login.session == nil {
		t.Fatalf("login: %d %s", login.status, login.body)
	}
	if got := recordedBy(newestActivity(t, e).ID); got != auditlog.RecordedByService {
		t.Errorf("the login's record: recorded_by %q, want %q", got, auditlog.RecordedByService)
	}
	status, _, resp = e.withCookie(t, "POST", "/api/v1/activities", login.session.Value, machineActivity, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if status != http.StatusCreated || json.Unmarshal(resp, &ids) != nil {
		t.Fatalf("recording with a session: %d %s", status, resp)
	}
	if got := recordedBy(ids.IDs[0]); got != auditlog.UserRecorder("audrey") {
		t.Errorf("recorded with a session: recorded_by %q, want user/audrey", got)
	}

	// A failed login and an administrative change are the service's own.
	e.login(t, "audrey", "wrong password", "", nil, nil)
	if a := newestActivity(t, e); a.SystemName != "LOGIN_FAILED" || a.RecordedBy != auditlog.RecordedByService {
		t.Errorf("the failed login is %s recorded by %q", a.SystemName, a.RecordedBy)
	}
	status, _, resp = e.do(t, "POST", "/api/v1/tokens", e.full, `{"name":"third","scopes":["activities:read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("creating a token: %d %s", status, resp)
	}
	if a := newestActivity(t, e); a.ObjectType != auditlog.ObjectTypeAPIToken || a.RecordedBy != auditlog.RecordedByService {
		t.Errorf("the token's creation is %s recorded by %q", a.SystemName, a.RecordedBy)
	}
}

func TestALeafOverTheEntryLimitIsRefused(t *testing.T) {
	e := newAPIEnv(t)
	big := strings.Repeat("x", auditlog.MaxChangeValueLen)
	var changes []string
	for range 5 {
		changes = append(changes, `{"column_name":"c","old_value":"`+big+`","new_value":"`+big+`"}`)
	}
	body := `{"activity_system_name":"EDIT_USER","operator":"machine","object_column_changes":[` + strings.Join(changes, ",") + `]}`
	before := e.count(t)
	status, _, resp := e.do(t, "POST", "/api/v1/activities", e.full, body)
	if got := wantError(t, status, resp, http.StatusRequestEntityTooLarge, auditlog.ETOOLARGE, "activity", -1); !strings.Contains(got.Message, "65535") {
		t.Errorf("the refusal %q does not name the limit", got.Message)
	}
	status, _, resp = e.do(t, "POST", "/api/v1/activities", e.full, batchOf(machineActivity, body))
	wantError(t, status, resp, http.StatusRequestEntityTooLarge, auditlog.ETOOLARGE, "activities[1].activity", 1)
	if n := e.count(t); n != before {
		t.Errorf("%d activities recorded by refused requests", n-before)
	}
	// Just under the limit is recorded.
	changes = changes[:3]
	e.record(t, `{"activity_system_name":"EDIT_USER","operator":"machine","object_column_changes":[`+strings.Join(changes, ",")+`]}`)
}
