package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/auditlog/auditlog"
)

// loadOpenAPIDocument parses and validates the embedded document.
func loadOpenAPIDocument() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("openapi.json does not load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// openAPIRouter is the validated document and a router over its paths,
// loaded once for all tests.
var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	// JSON Lines exports are checked as text: each line is checked by the tests.
	openapi3filter.RegisterBodyDecoder("application/jsonl", openapi3filter.PlainBodyDecoder)
	doc, err := loadOpenAPIDocument()
	if err != nil {
		return nil, err
	}
	// Without servers the router matches paths on any scheme and host, so
	// that requests to httptest servers on 127.0.0.1:<random port> route.
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: building the router: %w", err)
	}
	return router, nil
})

// checkOpenAPI fails the test unless the response (status, header, body)
// that req received is one openapi.json documents for req's route: the
// route and the status must be documented and the body must match the
// schema of the documented content type.
//
// When status is 2xx the request itself must be valid too (parameters and
// body), since a request that succeeds is a documented one. Requests that
// deliberately send bad input (answered 4xx) are not checked. The request
// body can be checked only when it can be read again: requests made with
// http.NewRequest from a *bytes.Buffer, *bytes.Reader or *strings.Reader
// have GetBody; a body that the handler has already consumed and that
// GetBody cannot replay (httptest.NewRequest) is skipped.
//
// Call it after each request of a handler or server test:
//
//	rec := httptest.NewRecorder()
//	h.ServeHTTP(rec, req)
//	checkOpenAPI(t, req, rec.Code, rec.Header(), rec.Body.Bytes())
//
// or, with a real server, with resp.StatusCode, resp.Header and the bytes
// read from resp.Body.
func checkOpenAPI(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	router, err := openAPIRouter()
	if err != nil {
		t.Fatalf("%v", err)
		return
	}
	ctx := context.Background()

	routed := req.Clone(ctx)
	routed.RequestURI = ""
	// A tile's coordinates are one parameter of the document, though they
	// span path segments (x001/x234/067): route them as one.
	if rest, ok := strings.CutPrefix(routed.URL.Path, "/tlog/tile/entries/"); ok {
		routed.URL.Path = "/tlog/tile/entries/" + strings.ReplaceAll(rest, "/", "~")
	} else if rest, ok := strings.CutPrefix(routed.URL.Path, "/tlog/tile/"); ok {
		routed.URL.Path = "/tlog/tile/" + strings.ReplaceAll(rest, "/", "~")
	}
	route, pathParams, err := router.FindRoute(routed)
	if err != nil {
		t.Errorf("openapi: %s %s (answered %d) is not documented in openapi.json: %v", req.Method, req.URL.Path, status, err)
		return
	}
	name := req.Method + " " + route.Path

	requestOptions := &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults: true,
		MultiError:          true,
		// Name the offending place and reason without dumping schemas.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	requestInput := &openapi3filter.RequestValidationInput{
		Request:    routed,
		PathParams: pathParams,
		Route:      route,
		Options:    requestOptions,
	}
	if status >= 200 && status < 300 {
		var replayable bool
		routed.Body, replayable = openAPIReplayBody(req)
		if !replayable {
			requestInput.Options.ExcludeRequestBody = true
		}
		if err := openapi3filter.ValidateRequest(ctx, requestInput); err != nil {
			t.Errorf("openapi: %s %s answered %d, but the request does not match openapi.json: %v", req.Method, req.URL.RequestURI(), status, err)
		}
	}

	if header == nil {
		header = http.Header{}
	}
	responseOptions := &openapi3filter.Options{
		IncludeResponseStatus:   true,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	responseInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: requestInput,
		Status:                 status,
		Header:                 header,
		Options:                responseOptions,
	}
	responseInput.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, responseInput); err != nil {
		t.Errorf("openapi: %s answered %d (Content-Type %q), which does not match openapi.json: %v\nbody: %s",
			name, status, header.Get("Content-Type"), err, openAPITruncate(body))
	}
}

// openAPIReplayBody returns a fresh reader of req's body and whether it holds the
// whole body. It leaves req's own body readable as before.
func openAPIReplayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return http.NoBody, true
	}
	if req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			return b, true
		}
	}
	// No GetBody: read what is left and put it back.
	data, err := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil || (len(data) == 0 && req.ContentLength != 0) {
		return http.NoBody, false // consumed by the handler
	}
	return io.NopCloser(bytes.NewReader(data)), true
}

func openAPITruncate(body []byte) string {
	const max = 2048
	if len(body) > max {
		return string(body[:max]) + "…"
	}
	return string(body)
}

// TestEveryRouteIsDocumented holds the server's routes and openapi.json
// together: every route is documented, with the permission it needs and
// whether it needs credentials, and every documented operation is routed.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc, err := loadOpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Config{Store: nil, PasswordParams: testPasswordParams})
	routed := map[string]bool{}
	for _, r := range srv.routes {
		method, path, ok := strings.Cut(r.pattern, " ")
		if r.ui {
			// Web UI pages are not part of the API and so not in its
			// document; they must stay out of its path space.
			if strings.HasPrefix(path, "/api/") {
				t.Errorf("web UI page %s is under /api/", r.pattern)
			}
			continue
		}
		if !ok || path == "/api/" {
			continue // the API's catch-all 404
		}
		// A trailing wildcard ({path...}) is one parameter in the document.
		path = strings.Replace(path, "...}", "}", 1)
		routed[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is routed but not documented", r.pattern)
			continue
		}
		op := item.GetOperation(method)
		public := op.Security != nil && len(*op.Security) == 0
		if public != r.public {
			t.Errorf("%s: documented as public=%v, routed as public=%v", r.pattern, public, r.public)
		}
		if got, _ := op.Extensions["x-required-permission"].(string); got != string(r.perm) {
			t.Errorf("%s: x-required-permission %q, routed with %q", r.pattern, got, r.perm)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !routed[method+" "+path] {
				t.Errorf("%s %s is documented but not routed", method, path)
			}
		}
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := loadOpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "auditlog API" || doc.Info.Version != "1.0.0" {
		t.Errorf("info = %q %q, want auditlog API 1.0.0", doc.Info.Title, doc.Info.Version)
	}
	for _, scheme := range []string{"bearerAuth", "sessionCookie"} {
		if doc.Components.SecuritySchemes[scheme] == nil {
			t.Errorf("security scheme %s is missing", scheme)
		}
	}
	if len(doc.Security) != 2 {
		t.Errorf("global security = %v, want bearerAuth or sessionCookie", doc.Security)
	}
	for _, path := range []string{"/api/v1/openapi.json", "/healthz", "/readyz"} {
		if op := doc.Paths.Value(path).Get; op == nil || op.Security == nil || len(*op.Security) != 0 {
			t.Errorf("GET %s must declare security: [] (no authentication)", path)
		}
	}
	// The limits of the domain package appear in the document.
	newActivity := doc.Components.Schemas["NewActivity"].Value
	if got := *newActivity.Properties["username"].Value.MaxLength; got != auditlog.MaxUsernameLen {
		t.Errorf("NewActivity.username maxLength = %d, want %d", got, auditlog.MaxUsernameLen)
	}
	batch := doc.Components.Schemas["ActivityBatch"].Value.Properties["activities"].Value
	if batch.MaxItems == nil || *batch.MaxItems != auditlog.MaxBatch {
		t.Errorf("ActivityBatch.activities maxItems = %v, want %d", batch.MaxItems, auditlog.MaxBatch)
	}
	activity := doc.Components.Schemas["Activity"].Value
	// recorded_by is the one key an activity may lack: those recorded
	// before the log kept who recorded each activity have none.
	if len(activity.Properties) != 14 || len(activity.Required) != 13 || slices.Contains(activity.Required, "recorded_by") {
		t.Errorf("Activity has %d properties and %d required (%v), want 14 and all but recorded_by", len(activity.Properties), len(activity.Required), activity.Required)
	}

	// The file stays pretty-printed with a 2-space indent.
	var compact, pretty bytes.Buffer
	if err := json.Compact(&compact, openAPIDocument); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&pretty, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if !bytes.Equal(pretty.Bytes(), openAPIDocument) {
		t.Errorf("openapi.json is not pretty-printed with a 2-space indent")
	}
	if onDisk, err := os.ReadFile("openapi.json"); err == nil && !bytes.Equal(onDisk, openAPIDocument) {
		t.Errorf("the embedded document differs from openapi.json")
	}
}

// openAPIRecordingTB is a testing.TB whose Errorf and Fatalf record the failure
// instead of failing the test, so that a test can assert that checkOpenAPI
// fails.
type openAPIRecordingTB struct {
	testing.TB
	errors []string
}

func (r *openAPIRecordingTB) Helper() {}

func (r *openAPIRecordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *openAPIRecordingTB) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, "fatal: "+fmt.Sprintf(format, args...))
}

func openAPIJSONHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}

func openAPISampleActivity() auditlog.Activity {
	return auditlog.Activity{
		ID:          1042,
		Created:     time.Date(2026, 11, 26, 9, 14, 3, 123456000, time.UTC),
		Operator:    auditlog.OperatorHuman,
		Username:    "jdoe",
		DisplayName: "Edit Permission Group",
		SystemName:  "EDIT_PERMISSION_GROUP",
		Extra:       json.RawMessage(`{"browser":"Firefox 131"}`),
		ObjectID:    "17",
		ObjectType:  "PermissionGroup",
		ObjectName:  "Keyers",
		Changes:     []auditlog.Change{{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"}},
	}
}

func openAPIMustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openAPIWithKey returns the JSON object b without key, or with key set to
// value when value is not nil.
func openAPIWithKey(t testing.TB, b []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	return openAPIMustJSON(t, m)
}

func openAPITestRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer alt_test")
	return req
}

func TestOpenAPICheckerRejectsWrongResponses(t *testing.T) {
	activity := openAPIMustJSON(t, openAPISampleActivity())
	detail := "http://127.0.0.1:43117/api/v1/activities/1042"
	validBatch := `{"activities": [{"activity_system_name": "USER_LOGIN", "operator": "human", "username": "jdoe", "extra": {"browser": "curl"}},
		{"activity_system_name": "EDIT_USER", "operator": "machine", "event_id": "3F2B6C1E-8A4D-4F7E-9B1A-2C5D6E7F8A9B",
		 "object_column_changes": [{"column_name": "disabled", "new_value": "true"}]}]}`

	wrong := []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   []byte
	}{
		{"missing key", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "object_column_changes", nil)},
		{"id of the wrong type", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "id", "1042")},
		{"created not a time", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "created", "yesterday")},
		{"unknown operator", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "operator", "robot")},
		{"extra key", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "tenant", "acme")},
		{"extra not an object", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIWithKey(t, activity, "extra", nil)},
		{"change row missing a key", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(),
			openAPIWithKey(t, activity, "object_column_changes", []any{map[string]any{"column_name": "x", "old_value": ""}})},
		{"undocumented status", openAPITestRequest(t, "GET", detail, ""), 418, openAPIJSONHeader(), activity},
		{"undocumented 500", openAPITestRequest(t, "GET", detail, ""), 500, openAPIJSONHeader(), []byte(`{"error":{"code":"internal","message":"boom"}}`)},
		{"wrong content type", openAPITestRequest(t, "GET", detail, ""), 200, http.Header{"Content-Type": {"text/html"}}, activity},
		{"undocumented route", openAPITestRequest(t, "GET", "http://127.0.0.1:43117/api/v1/nope", ""), 200, openAPIJSONHeader(), []byte(`{}`)},
		{"undocumented method", openAPITestRequest(t, "DELETE", detail, ""), 204, openAPIJSONHeader(), nil},
		{"error with an unknown code", openAPITestRequest(t, "GET", detail, ""), 404, openAPIJSONHeader(), []byte(`{"error":{"code":"missing","message":"no such activity"}}`)},
		{"error without message", openAPITestRequest(t, "GET", detail, ""), 404, openAPIJSONHeader(), []byte(`{"error":{"code":"not_found"}}`)},
		{"error with index -1", openAPITestRequest(t, "POST", "/api/v1/activities", `{}`), 400, openAPIJSONHeader(), []byte(`{"error":{"code":"invalid","message":"m","field":"operator","index":-1}}`)},
		{"list without next_cursor", openAPITestRequest(t, "GET", "/api/v1/activities", ""), 200, openAPIJSONHeader(), []byte(`{"activities":[]}`)},
		{"ids not integers", openAPITestRequest(t, "POST", "/api/v1/activities", validBatch), 201, openAPIJSONHeader(), []byte(`{"ids":["1","2"]}`)},
		{"2xx for an invalid request", openAPITestRequest(t, "POST", "/api/v1/activities", `{"activity_system_name": "USER_LOGIN", "operator": "robot"}`), 201, openAPIJSONHeader(), []byte(`{"ids":[1]}`)},
		{"2xx for an unknown field", openAPITestRequest(t, "POST", "/api/v1/activities", `{"activity_system_name": "USER_LOGIN", "operator": "machine", "colour": "red"}`), 201, openAPIJSONHeader(), []byte(`{"ids":[1]}`)},
		{"2xx for an empty batch", openAPITestRequest(t, "POST", "/api/v1/activities", `{"activities": []}`), 201, openAPIJSONHeader(), []byte(`{"ids":[]}`)},
		{"2xx for a bad limit", openAPITestRequest(t, "GET", "/api/v1/activities?limit=5000", ""), 200, openAPIJSONHeader(), []byte(`{"activities":[],"next_cursor":null}`)},
		{"2xx for a bad id", openAPITestRequest(t, "GET", "http://127.0.0.1:43117/api/v1/activities/abc", ""), 200, openAPIJSONHeader(), activity},
		{"activity type without custom", openAPITestRequest(t, "GET", "/api/v1/activity-types", ""), 200, openAPIJSONHeader(),
			[]byte(`{"activity_types":[{"system_name":"USER_LOGIN","display_name":"User Login","description":"","introduced_in":"1.0","subtypes":[]}]}`)},
	}
	for _, tc := range wrong {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			rec := &openAPIRecordingTB{TB: t}
			checkOpenAPI(rec, tc.req, tc.status, tc.header, tc.body)
			for _, e := range rec.errors {
				t.Logf("reported: %.300s", e)
			}
			if len(rec.errors) == 0 {
				t.Errorf("checkOpenAPI accepted %s %s answering %d: %s", tc.req.Method, tc.req.URL, tc.status, tc.body)
			}
			for _, e := range rec.errors {
				if strings.HasPrefix(e, "fatal: ") {
					t.Errorf("checkOpenAPI failed fatally: %s", e)
				}
			}
		})
	}

	list := openAPIMustJSON(t, map[string]any{"activities": []auditlog.Activity{openAPISampleActivity(), {ID: 7, Operator: auditlog.OperatorMachine, SystemName: "CREATE_USER", DisplayName: "Create User"}}, "next_cursor": auditlog.EncodeCursor(7)})
	types := openAPIMustJSON(t, map[string]any{"activity_types": []auditlog.ActivityType{
		{SystemName: "DOWNLOAD_CSV", DisplayName: "Download CSV", Subtypes: []auditlog.Subtype{{SystemName: "AUDIT_LOG_CSV", DisplayName: "Audit Log CSV"}}},
		{SystemName: "EXPORT_REPORT", DisplayName: "Export Report", Subtypes: []auditlog.Subtype{}, Custom: true},
	}})
	createdType := openAPIMustJSON(t, auditlog.ActivityType{SystemName: "EXPORT_REPORT", DisplayName: "Export Report", Subtypes: []auditlog.Subtype{{SystemName: "PDF", DisplayName: "PDF"}}, Custom: true})
	// httptest.NewRequest has no GetBody: its body is checked while unread.
	unreadBody := httptest.NewRequest("POST", "/api/v1/activities", strings.NewReader(`{"activity_system_name":"USER_LOGIN","operator":"human","username":"jdoe","extra":null}`))
	unreadBody.Header.Set("Content-Type", "application/json")
	consumedBody := httptest.NewRequest("POST", "/api/v1/activities", strings.NewReader(`{"activity_system_name":"USER_LOGIN","operator":"human","username":"jdoe"}`))
	consumedBody.Header.Set("Content-Type", "application/json")
	io.Copy(io.Discard, consumedBody.Body)

	right := []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   []byte
	}{
		{"activity", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), activity},
		{"machine activity with empty fields", openAPITestRequest(t, "GET", detail, ""), 200, openAPIJSONHeader(), openAPIMustJSON(t, auditlog.Activity{ID: 1, Operator: auditlog.OperatorMachine, SystemName: "CREATE_USER"})},
		{"not found", openAPITestRequest(t, "GET", detail, ""), 404, openAPIJSONHeader(), []byte(`{"error":{"code":"not_found","message":"no activity has ID 1042"}}`)},
		{"bad id", openAPITestRequest(t, "GET", "/api/v1/activities/abc", ""), 400, openAPIJSONHeader(), []byte(`{"error":{"code":"invalid","message":"id must be a positive whole number","field":"id"}}`)},
		{"list page", openAPITestRequest(t, "GET", "/api/v1/activities?operator=human&operator=machine&id=7&id=1042&created_on=2026-11-26&tz=Europe/Berlin&limit=2", ""), 200, openAPIJSONHeader(), list},
		{"last page", openAPITestRequest(t, "GET", "/api/v1/activities?created_from=2026-11-26T09:00:00Z&created_to=2026-11-27", ""), 200, openAPIJSONHeader(), []byte(`{"activities":[],"next_cursor":null}`)},
		{"list refused", openAPITestRequest(t, "GET", "/api/v1/activities?colour=red", ""), 400, openAPIJSONHeader(), []byte(`{"error":{"code":"invalid","message":"unknown query parameter \"colour\"","field":"colour"}}`)},
		{"list forbidden", openAPITestRequest(t, "GET", "/api/v1/activities", ""), 403, openAPIJSONHeader(), []byte(`{"error":{"code":"forbidden","message":"this token lacks activities:read"}}`)},
		{"record batch", openAPITestRequest(t, "POST", "/api/v1/activities", validBatch), 201, openAPIJSONHeader(), []byte(`{"ids":[1,2]}`)},
		{"record single, unread body", unreadBody, 201, openAPIJSONHeader(), []byte(`{"ids":[3]}`)},
		{"record single, consumed body", consumedBody, 201, openAPIJSONHeader(), []byte(`{"ids":[4]}`)},
		{"batch error", openAPITestRequest(t, "POST", "/api/v1/activities", `{"activities":[{}]}`), 400, openAPIJSONHeader(),
			[]byte(`{"error":{"code":"invalid","message":"operator is required: human or machine","field":"activities[0].operator","index":0}}`)},
		{"too large", openAPITestRequest(t, "POST", "/api/v1/activities", `{}`), 413, openAPIJSONHeader(), []byte(`{"error":{"code":"too_large","message":"the body is over 16 MiB"}}`)},
		{"unauthorized", openAPITestRequest(t, "POST", "/api/v1/activities", `{}`), 401, openAPIJSONHeader(), []byte(`{"error":{"code":"unauthorized","message":"no credentials"}}`)},
		{"catalogue", openAPITestRequest(t, "GET", "/api/v1/activity-types", ""), 200, openAPIJSONHeader(), types},
		{"register type", openAPITestRequest(t, "POST", "/api/v1/activity-types", `{"display_name":"Export Report","subtypes":[{"display_name":"PDF"}]}`), 201, openAPIJSONHeader(), createdType},
		{"type taken", openAPITestRequest(t, "POST", "/api/v1/activity-types", `{"system_name":"USER_LOGIN","display_name":"User Login"}`), 409, openAPIJSONHeader(), []byte(`{"error":{"code":"conflict","message":"USER_LOGIN exists"}}`)},
		{"openapi.json", httptest.NewRequest("GET", "/api/v1/openapi.json", nil), 200, openAPIJSONHeader(), openAPIDocument},
		{"healthz", httptest.NewRequest("GET", "/healthz", nil), 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("ok\n")},
		{"readyz down", httptest.NewRequest("GET", "/readyz", nil), 503, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("store unreachable\n")},
		{"metrics", httptest.NewRequest("GET", "/metrics", nil), 200, http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8; escaping=underscores"}}, []byte("# HELP up 1\nup 1\n")},
	}
	for _, tc := range right {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			rec := &openAPIRecordingTB{TB: t}
			checkOpenAPI(rec, tc.req, tc.status, tc.header, tc.body)
			if len(rec.errors) != 0 {
				t.Errorf("checkOpenAPI refused a documented response:\n%s", strings.Join(rec.errors, "\n"))
			}
		})
	}
	// The unread body is left readable for whoever reads it next.
	if rest, _ := io.ReadAll(unreadBody.Body); !bytes.Contains(rest, []byte("USER_LOGIN")) {
		t.Errorf("checkOpenAPI consumed the request body: %q", rest)
	}

	// Each kind of operation is exercised above.
	kinds := map[string][]string{
		"/api/v1/activities":      {http.MethodGet, http.MethodPost},
		"/api/v1/activities/{id}": {http.MethodGet},
		"/api/v1/activity-types":  {http.MethodGet, http.MethodPost},
		"/api/v1/openapi.json":    {http.MethodGet},
		"/healthz":                {http.MethodGet},
		"/readyz":                 {http.MethodGet},
		"/metrics":                {http.MethodGet},
	}
	exercised := map[string]bool{}
	for _, tc := range right {
		router, _ := openAPIRouter()
		if route, _, err := router.FindRoute(tc.req); err == nil {
			exercised[tc.req.Method+" "+route.Path] = true
		}
	}
	for path, methods := range kinds {
		for _, m := range methods {
			if !exercised[m+" "+path] {
				t.Errorf("no accepted case for %s %s", m, path)
			}
		}
	}
}
