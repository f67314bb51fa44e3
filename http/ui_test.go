package http

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// These tests read the web UI's HTML over real HTTP, without a browser.

// page sends a request as the session cookie's holder (none when empty),
// without following redirects. A form body is posted from the server's own
// origin, as the browser would.
func (e *apiEnv) page(t *testing.T, method, path, cookie string, form url.Values) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// uiRoute is a web UI route with a request that succeeds for a viewer who
// holds its permission.
type uiRoute struct {
	method, pattern, path string
	form                  func(i int) url.Values
	perm                  auditlog.Permission
	success               int
	// redirectsAnyone: the route answers success to every viewer.
	redirectsAnyone bool
}

// TestUIAuthorization walks every web UI page with viewers of each kind:
// the login form without a session, an error page without the permission,
// the page with it. The policy is the API's: authorize.
func TestUIAuthorization(t *testing.T) {
	e, _ := newUIEnv(t)
	ctx := context.Background()
	read, admin := auditlog.PermActivitiesRead, auditlog.PermAdmin
	viewers := []struct {
		name   string
		cookie func() string
		holds  []auditlog.Permission // nil: not logged in
	}{
		{"no session", func() string { return "" }, nil},
		{"an unknown session", func() string { return auditlog.GenerateSessionSecret() }, nil},
		{"a user whose group only records", func() string { return e.session(t, "rita") }, []auditlog.Permission{auditlog.PermActivitiesWrite}},
		{"an auditor", func() string { return e.session(t, "audrey") }, []auditlog.Permission{read}},
		{"a System Admin", func() string { return e.session(t, auditlog.AdminUsername) }, auditlog.AllPermissions},
	}
	tokenID := func(i int) int64 {
		id, err := e.db.CreateToken(ctx, setup, auditlog.NewToken{Name: fmt.Sprintf("revoke-%d", i), Scopes: []auditlog.Permission{read}}, auditlog.GenerateTokenSecret())
		if err != nil {
			t.Fatal(err)
		}
		return id.ID
	}
	// sessionID opens a session of audrey's for viewer i to end.
	sessionID := func(i int) int64 {
		secret := e.session(t, "audrey")
		p, err := e.db.AuthenticateSession(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		return p.SessionID
	}
	// streamID creates a stream for viewer i to change.
	streamID := func(i int, action string) int64 {
		st, err := e.db.CreateStream(ctx, setup, auditlog.NewStream{Name: fmt.Sprintf("ui-%s-%d", action, i), Type: "webhook",
			URL: "http://127.0.0.1:1/hook", Secret: auditlog.NewWebhookSecret()})
		if err != nil {
			t.Fatal(err)
		}
		if action == "resume" {
			if _, err := e.db.PauseStream(ctx, setup, st.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		return st.ID
	}
	none := func(int) url.Values { return url.Values{} }
	// Users for the System Admin viewer to delete and restore.
	for _, u := range []string{"dora", "gone"} {
		if _, err := e.db.CreateUser(ctx, setup, u, "Auditors", "unused-hash"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.DeleteUser(ctx, setup, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateGroup(ctx, setup, "Empty", nil); err != nil {
		t.Fatal(err)
	}
	routes := []uiRoute{
		{method: "GET", pattern: "/{$}", path: "/"},
		{method: "POST", pattern: "/login", path: "/login", form: func(int) url.Values {
			return url.Values{"username": {"rita"}, "password": {"wrong password"}}
		}},
		{method: "GET", pattern: "/static/", path: "/static/style.css"},
		{method: "GET", pattern: "/login", path: "/login", success: http.StatusSeeOther, redirectsAnyone: true},
		{method: "GET", pattern: "/favicon.ico", path: "/favicon.ico", success: http.StatusMovedPermanently, redirectsAnyone: true},
		{method: "GET", pattern: "/admin", path: "/admin"},
		{method: "GET", pattern: "/admin/audit-log", path: "/admin/audit-log", perm: read},
		{method: "GET", pattern: "/admin/audit-log/{id}", path: "/admin/audit-log/1", perm: read},
		{method: "GET", pattern: "/admin/witnesses", path: "/admin/witnesses", perm: read},
		{method: "GET", pattern: "/admin/users", path: "/admin/users", perm: admin},
		{method: "POST", pattern: "/admin/users", path: "/admin/users", perm: admin, success: http.StatusSeeOther, form: func(i int) url.Values {
			return url.Values{"username": {fmt.Sprintf("new-%d", i)}, "group": {"Auditors"}, "password": {uiPassword}}
		}},
		{method: "POST", pattern: "/admin/users/{username}", path: "/admin/users/audrey", perm: admin, success: http.StatusSeeOther, form: func(int) url.Values {
			return url.Values{"group": {"Auditors"}}
		}},
		{method: "POST", pattern: "/admin/users/{username}/delete", path: "/admin/users/dora/delete", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "POST", pattern: "/admin/users/{username}/restore", path: "/admin/users/gone/restore", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "GET", pattern: "/admin/groups", path: "/admin/groups", perm: admin},
		{method: "POST", pattern: "/admin/groups", path: "/admin/groups", perm: admin, success: http.StatusSeeOther, form: func(i int) url.Values {
			return url.Values{"name": {fmt.Sprintf("made-%d", i)}, "permissions": {"activities:read"}}
		}},
		{method: "POST", pattern: "/admin/groups/{name}", path: "/admin/groups/Recorders", perm: admin, success: http.StatusSeeOther, form: func(int) url.Values {
			return url.Values{"permissions": {"activities:write"}}
		}},
		{method: "POST", pattern: "/admin/groups/{name}/delete", path: "/admin/groups/Empty/delete", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "GET", pattern: "/admin/tokens", path: "/admin/tokens", perm: admin},
		{method: "POST", pattern: "/admin/tokens", path: "/admin/tokens", perm: admin, form: func(i int) url.Values {
			return url.Values{"name": {fmt.Sprintf("made-%d", i)}, "scopes": {"activities:write"}, "expires_in": {"2592000"}}
		}},
		{method: "POST", pattern: "/admin/tokens/{id}/revoke", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "POST", pattern: "/admin/tokens/{id}/reset", perm: admin, form: none},
		{method: "GET", pattern: "/admin/streams", path: "/admin/streams", perm: admin},
		{method: "POST", pattern: "/admin/streams", path: "/admin/streams", perm: admin, form: func(i int) url.Values {
			return url.Values{"name": {fmt.Sprintf("made-%d", i)}, "type": {"webhook"}, "url": {"https://siem.example/hook"}, "filter": {"operator=human"}}
		}},
		{method: "POST", pattern: "/admin/streams/{id}/pause", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "POST", pattern: "/admin/streams/{id}/resume", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "POST", pattern: "/admin/streams/{id}/replay", perm: admin, success: http.StatusSeeOther, form: func(int) url.Values { return url.Values{"from_id": {"1"}} }},
		{method: "POST", pattern: "/admin/streams/{id}/delete", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "GET", pattern: "/admin/sessions", path: "/admin/sessions", perm: admin},
		{method: "GET", pattern: "/admin/activity-types", path: "/admin/activity-types?q=user", perm: admin},
		{method: "POST", pattern: "/admin/activity-types", path: "/admin/activity-types", perm: admin, success: http.StatusSeeOther, form: func(i int) url.Values {
			return url.Values{"display_name": {fmt.Sprintf("Approve Invoice %d", i)}, "subtypes": {"By Rule, Manually"}}
		}},
		{method: "POST", pattern: "/admin/sessions/{id}/end", perm: admin, success: http.StatusSeeOther, form: none},
		{method: "POST", pattern: "/admin/users/{username}/sessions/end", path: "/admin/users/dora/sessions/end", perm: admin, success: http.StatusSeeOther, form: none},
		// Last: it ends the viewer's session.
		{method: "POST", pattern: "/logout", path: "/logout", perm: anyPermission, success: http.StatusSeeOther, form: none},
	}
	walked := map[string]bool{}
	for _, r := range routes {
		walked[r.method+" "+r.pattern] = true
	}
	for _, r := range e.server.routes {
		if r.ui && !walked[r.pattern] {
			t.Errorf("web UI route %s is not walked by this table", r.pattern)
		}
	}
	public := map[string]bool{"/{$}": true, "/login": true, "/static/": true}
	for i, v := range viewers {
		cookie := v.cookie()
		for _, r := range routes {
			path := r.path
			if id, ok := strings.CutPrefix(r.pattern, "/admin/tokens/{id}/"); ok {
				path = fmt.Sprintf("/admin/tokens/%d/%s", tokenID(i), id)
			}
			if action, ok := strings.CutPrefix(r.pattern, "/admin/streams/{id}/"); ok {
				path = fmt.Sprintf("/admin/streams/%d/%s", streamID(i, action), action)
			}
			if r.pattern == "/admin/sessions/{id}/end" {
				path = fmt.Sprintf("/admin/sessions/%d/end", sessionID(i))
			}
			var want int
			switch {
			case r.redirectsAnyone:
				want = r.success
			case public[r.pattern] && r.pattern == "/login":
				want = http.StatusUnauthorized // a wrong password
			case public[r.pattern] && r.pattern == "/{$}" && v.holds != nil:
				want = http.StatusSeeOther // on to the first tab
			case public[r.pattern]:
				want = http.StatusOK
			case v.holds == nil:
				want = http.StatusUnauthorized
			case r.perm != anyPermission && !slices.Contains(v.holds, r.perm):
				want = http.StatusForbidden
			case r.pattern == "/admin" && (slices.Contains(v.holds, read) || slices.Contains(v.holds, admin)):
				want = http.StatusSeeOther // on to the first tab
			case r.success != 0:
				want = r.success
			default:
				want = http.StatusOK
			}
			t.Run(fmt.Sprintf("%s gets %d from %s %s", v.name, want, r.method, path), func(t *testing.T) {
				var form url.Values
				if r.form != nil {
					form = r.form(i)
				}
				status, header, body := e.page(t, r.method, path, cookie, form)
				if status != want {
					t.Fatalf("answered %d, want %d: %s", status, want, body)
				}
				switch want {
				case http.StatusUnauthorized:
					if !strings.Contains(body, `action="/login"`) {
						t.Errorf("a refused page without the login form: %s", body)
					}
				case http.StatusForbidden:
					if !strings.Contains(body, "this requires the "+string(r.perm)+" permission") {
						t.Errorf("the refusal does not name the permission %s: %s", r.perm, body)
					}
				}
				if got := header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
					t.Errorf("Content-Security-Policy %q", got)
				}
			})
		}
	}
}

func TestUISecurityHeadersAndNoInlineCode(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	want := "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	for _, path := range []string{"/", "/admin/audit-log", "/admin/audit-log/1", "/admin/users", "/admin/groups", "/admin/tokens", "/static/app.js", "/api/v1/session"} {
		_, header, body := e.page(t, "GET", path, cookie, nil)
		if got := header.Get("Content-Security-Policy"); got != want {
			t.Errorf("%s: Content-Security-Policy %q, want %q", path, got, want)
		}
		if header.Get("X-Frame-Options") != "DENY" || header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", path, header.Get("X-Frame-Options"), header.Get("X-Content-Type-Options"))
		}
		if !strings.HasPrefix(header.Get("Content-Type"), "text/html") {
			continue
		}
		for _, inline := range []string{"<script>", " style=", "<style", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(body, inline) {
				t.Errorf("%s holds inline code %q", path, inline)
			}
		}
	}
}

func TestUIEscapesActivityText(t *testing.T) {
	e, xssID := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
	for _, path := range []string{"/admin/audit-log?" + url.Values{"username": {xss}}.Encode(), fmt.Sprintf("/admin/audit-log/%d", xssID)} {
		status, _, body := e.page(t, "GET", path, cookie, nil)
		if status != http.StatusOK {
			t.Fatalf("%s answered %d", path, status)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s holds the attacker's markup unescaped", path)
		}
		if !strings.Contains(body, escaped) {
			t.Errorf("%s does not show the attacker's text escaped", path)
		}
	}
}

func TestUILoginForm(t *testing.T) {
	e, _ := newUIEnv(t)
	form := url.Values{"username": {"rita"}, "password": {uiPassword}}

	t.Run("a wrong password shows the form again and is recorded", func(t *testing.T) {
		status, header, body := e.page(t, "POST", "/login", "", url.Values{"username": {"rita"}, "password": {"not it"}})
		if status != http.StatusUnauthorized || !strings.Contains(body, "wrong username or password") || !strings.Contains(body, `value="rita"`) {
			t.Fatalf("answered %d: %s", status, body)
		}
		if len(header.Values("Set-Cookie")) != 0 {
			t.Errorf("a failed login set cookies: %q", header.Values("Set-Cookie"))
		}
		last, _, err := e.db.FindActivities(context.Background(), auditlog.Filter{Limit: 1})
		if err != nil || last[0].SystemName != "LOGIN_FAILED" || last[0].Username != "rita" {
			t.Errorf("the newest activity is %+v (%v), want rita's LOGIN_FAILED", last, err)
		}
	})
	t.Run("a missing field is named", func(t *testing.T) {
		status, _, body := e.page(t, "POST", "/login", "", url.Values{"username": {"rita"}})
		if status != http.StatusBadRequest || !strings.Contains(body, "password is required") {
			t.Fatalf("answered %d: %s", status, body)
		}
	})
	t.Run("a cross-site post is refused and opens no session", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("answered %d with cookies %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
	})
	t.Run("a login opens a session and leads on to the start page", func(t *testing.T) {
		status, header, _ := e.page(t, "POST", "/login", "", form)
		if status != http.StatusSeeOther || header.Get("Location") != "/" {
			t.Fatalf("answered %d to %q", status, header.Get("Location"))
		}
		cookies := map[string]*http.Cookie{}
		for _, line := range header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatal(err)
			}
			cookies[c.Name] = c
		}
		if c := cookies[SessionCookie]; c == nil || !c.HttpOnly || c.Path != "/" {
			t.Errorf("session cookie %+v", c)
		}
		if c := cookies[DeviceCookie]; c == nil || c.Path != "/login" || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("device cookie %+v, want one for /login only", c)
		}
		status, header, _ = e.page(t, "GET", "/", cookies[SessionCookie].Value, nil)
		if status != http.StatusSeeOther || header.Get("Location") != "/admin" {
			t.Errorf("the start page answered %d to %q, want /admin for a user without the audit log", status, header.Get("Location"))
		}
	})
}

func TestUIAuditLogRefusesBadFilters(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	for query, want := range map[string]string{
		"operator=robot":                                "operator must be human or machine",
		"created_on=26.11.2026":                         "created_on must be a date",
		"created_on=2026-11-20&created_from=2026-11-19": "created_from cannot be combined with created_on",
		"limit=5000":                                    "limit must be a whole number from 1 to 1000",
		"position=0":                                    "position must be a whole number from 1 on",
		"colour=red":                                    `unknown query parameter &#34;colour&#34;`,
	} {
		status, _, body := e.page(t, "GET", "/admin/audit-log?"+query, cookie, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("?%s answered %d without %q", query, status, want)
		}
	}
}

func TestUIAdministrationForms(t *testing.T) {
	e, _ := newUIEnv(t)
	ctx := context.Background()
	cookie := e.session(t, auditlog.AdminUsername)
	newest := func() auditlog.Activity {
		acts, _, err := e.db.FindActivities(ctx, auditlog.Filter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return acts[0]
	}
	post := func(path string, form url.Values) (int, string) {
		status, _, body := e.page(t, "POST", path, cookie, form)
		return status, body
	}

	t.Run("grant the audit log to a group", func(t *testing.T) {
		if status, body := post("/admin/groups/Recorders", url.Values{"permissions": {"activities:write", "activities:read"}}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		g, err := e.db.FindGroup(ctx, "Recorders")
		if err != nil || !slices.Equal(g.Permissions, []auditlog.Permission{auditlog.PermActivitiesWrite, auditlog.PermActivitiesRead}) {
			t.Fatalf("group %+v, %v", g, err)
		}
		if a := newest(); a.SystemName != "EDIT_PERMISSION_GROUP" || a.Username != auditlog.AdminUsername {
			t.Errorf("the change was recorded as %s by %q", a.SystemName, a.Username)
		}
		_, _, body := e.page(t, "GET", "/admin/groups?done=group-changed", cookie, nil)
		if !strings.Contains(body, "permissions were saved") {
			t.Error("no confirmation after the redirect")
		}
	})
	t.Run("create and disable a user", func(t *testing.T) {
		if status, body := post("/admin/users", url.Values{"username": {"uma"}, "group": {"Recorders"}, "password": {uiPassword}}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if status, body := post("/admin/users/uma", url.Values{"disabled": {"true"}}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		u, err := e.db.FindUser(ctx, "uma")
		if err != nil || !u.Disabled || u.GroupName != "Recorders" {
			t.Fatalf("user %+v, %v", u, err)
		}
	})
	t.Run("delete and restore a user", func(t *testing.T) {
		if status, body := post("/admin/users/uma/delete", url.Values{}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if u, err := e.db.FindUser(ctx, "uma"); err != nil || !u.Deleted {
			t.Fatalf("after delete: %+v, %v", u, err)
		}
		if a := newest(); a.SystemName != "DELETE_USER" || a.Username != auditlog.AdminUsername || a.ObjectName != "uma" {
			t.Errorf("the deletion was recorded as %s by %q on %q", a.SystemName, a.Username, a.ObjectName)
		}
		_, _, body := e.page(t, "GET", "/admin/users", cookie, nil)
		if !strings.Contains(body, `action="/admin/users/uma/restore"`) || strings.Contains(body, `action="/admin/users/uma/delete"`) {
			t.Error("a deleted user's row offers no restore, or still a delete")
		}
		if status, body := post("/admin/users/uma/restore", url.Values{}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if u, err := e.db.FindUser(ctx, "uma"); err != nil || u.Deleted {
			t.Fatalf("after restore: %+v, %v", u, err)
		}
		if a := newest(); a.SystemName != "RESTORE_USER" {
			t.Errorf("the restoration was recorded as %s", a.SystemName)
		}
		before := newest().ID
		status, body := post("/admin/users/uma/restore", url.Values{})
		if status != http.StatusConflict || !strings.Contains(body, "is not deleted") || newest().ID != before {
			t.Errorf("restoring a user who is not deleted: %d, recorded %v", status, newest().ID != before)
		}
	})
	t.Run("bad input names the field and records nothing", func(t *testing.T) {
		before := newest().ID
		for _, c := range []struct {
			path string
			form url.Values
			want string
		}{
			{"/admin/users", url.Values{"username": {"short"}, "group": {"Recorders"}, "password": {"abc"}}, "password must be at least"},
			{"/admin/users", url.Values{"username": {"nogroup"}, "password": {uiPassword}}, "group is required"},
			{"/admin/users/uma", url.Values{"disabled": {"maybe"}}, "disabled must be true or false"},
			{"/admin/groups", url.Values{"name": {"Odd"}, "permissions": {"everything"}}, "unknown permission"},
			{"/admin/groups/" + url.PathEscape(auditlog.SystemAdminGroup), url.Values{"permissions": {"activities:read"}}, "keeps every permission"},
			{"/admin/tokens", url.Values{"name": {"t"}, "scopes": {"activities:read"}, "expires_in": {"-5"}}, "expires_in must be between"},
			{"/admin/tokens/999999/revoke", url.Values{}, "999999"},
			{"/admin/streams", url.Values{"name": {"s"}, "type": {"webhook"}, "url": {"ftp://x"}}, "url starts with http:// or https://"},
			{"/admin/streams", url.Values{"name": {"s"}, "type": {"webhook"}, "url": {"https://x.example/"}, "batch_size": {"many"}}, "batch_size must be a whole number"},
			{"/admin/streams/999999/replay", url.Values{"from_id": {"1"}}, "999999"},
		} {
			status, body := post(c.path, c.form)
			if status < 400 || !strings.Contains(body, c.want) {
				t.Errorf("%s %v answered %d without %q", c.path, c.form, status, c.want)
			}
		}
		if after := newest().ID; after != before {
			t.Errorf("refused forms recorded activity %d", after)
		}
	})
	t.Run("a stream's secret is shown once, and its health on the tab", func(t *testing.T) {
		status, body := post("/admin/streams", url.Values{"name": {"siem"}, "type": {"webhook"}, "url": {"https://siem.example/hook"}, "filter": {"operator=human"}})
		i := strings.Index(body, "whsec_")
		if status != http.StatusOK || i < 0 || !strings.Contains(body, "shown only this once") {
			t.Fatalf("answered %d without the secret: %s", status, body)
		}
		secret := html.UnescapeString(body[i : i+strings.IndexByte(body[i:], '"')])
		if _, err := auditlog.WebhookSecretKey(secret); err != nil {
			t.Fatalf("the secret shown %q: %v", secret, err)
		}
		_, _, page := e.page(t, "GET", "/admin/streams", cookie, nil)
		if strings.Contains(page, secret) || !strings.Contains(page, "siem") || !strings.Contains(page, "operator=human") || !strings.Contains(page, "after activity") {
			t.Fatalf("the Streams tab shows the secret again, or not the stream:\n%s", page)
		}
		if a := newest(); a.SystemName != "CREATE_STREAM" || a.Username != auditlog.AdminUsername {
			t.Fatalf("the creation recorded %+v", a)
		}
	})
	t.Run("a token's secret is shown once and works", func(t *testing.T) {
		status, body := post("/admin/tokens", url.Values{"name": {"ci"}, "scopes": {"activities:read"}, "expires_in": {"2592000"}})
		if status != http.StatusOK {
			t.Fatalf("answered %d: %s", status, body)
		}
		i := strings.Index(body, auditlog.TokenPrefix)
		if i < 0 {
			t.Fatal("no secret on the page")
		}
		secret := html.UnescapeString(body[i : i+strings.IndexByte(body[i:], '"')])
		if _, err := e.db.Authenticate(ctx, secret); err != nil {
			t.Fatalf("the shown secret does not authenticate: %v", err)
		}
		if _, _, list := e.page(t, "GET", "/admin/tokens", cookie, nil); strings.Contains(list, secret) {
			t.Error("the token list shows the secret again")
		}

		// A reset shows the new secret once; the old one stops working.
		tok, err := e.db.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		status, body = post(fmt.Sprintf("/admin/tokens/%d/reset", tok.TokenID), url.Values{})
		i = strings.Index(body, auditlog.TokenPrefix)
		if status != http.StatusOK || i < 0 || !strings.Contains(body, "old secret no longer works") {
			t.Fatalf("reset answered %d without a new secret", status)
		}
		fresh := body[i : i+strings.IndexByte(body[i:], '"')]
		if _, err := e.db.Authenticate(ctx, secret); err == nil {
			t.Error("the secret before the reset still works")
		}
		if _, err := e.db.Authenticate(ctx, fresh); err != nil || newest().SystemName != "RESET_TOKEN" {
			t.Errorf("the new secret: %v; recorded %s", err, newest().SystemName)
		}
	})
	t.Run("end sessions", func(t *testing.T) {
		first, second := e.session(t, "rita"), e.session(t, "rita")
		p, err := e.db.AuthenticateSession(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		_, _, body := e.page(t, "GET", "/admin/sessions", cookie, nil)
		if !strings.Contains(body, fmt.Sprintf(`action="/admin/sessions/%d/end"`, p.SessionID)) || !strings.Contains(body, "this session") {
			t.Fatal("the sessions page lists neither rita's session nor the viewer's own")
		}
		if status, body := post(fmt.Sprintf("/admin/sessions/%d/end", p.SessionID), url.Values{}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if _, err := e.db.AuthenticateSession(ctx, first); err == nil {
			t.Error("the ended session still works")
		}
		if _, err := e.db.AuthenticateSession(ctx, second); err != nil {
			t.Error("ending one session ended another")
		}
		if a := newest(); a.SystemName != "RESET_USER_AUTHORIZATION_TOKEN" || a.Username != auditlog.AdminUsername {
			t.Errorf("recorded as %s by %q", a.SystemName, a.Username)
		}
		if status, body := post("/admin/users/rita/sessions/end", url.Values{}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if _, err := e.db.AuthenticateSession(ctx, second); err == nil {
			t.Error("ending all of rita's sessions left one")
		}
		status, body := post("/admin/sessions/999999/end", url.Values{})
		if status != http.StatusNotFound || !strings.Contains(body, "is not live") {
			t.Errorf("ending a session that is not live: %d", status)
		}
	})
	t.Run("delete a permission group", func(t *testing.T) {
		if _, err := e.db.CreateGroup(ctx, setup, "Spare", nil); err != nil {
			t.Fatal(err)
		}
		if status, body := post("/admin/groups/Spare/delete", url.Values{}); status != http.StatusSeeOther {
			t.Fatalf("answered %d: %s", status, body)
		}
		if _, err := e.db.FindGroup(ctx, "Spare"); auditlog.ErrorCode(err) != auditlog.ENOTFOUND || newest().SystemName != "DELETE_PERMISSION_GROUPS" {
			t.Errorf("after delete: %v, recorded %s", err, newest().SystemName)
		}
		status, body := post("/admin/groups/Recorders/delete", url.Values{})
		if status != http.StatusConflict || !strings.Contains(body, "move them to another group first") {
			t.Errorf("deleting a group with members: %d", status)
		}
	})
}

func TestHistogramBounds(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 20, 9, 13, 0, 0, time.UTC)
	for _, c := range []struct {
		span time.Duration
		name string
	}{
		{0, "1 minute"}, {30 * time.Minute, "1 minute"}, {3 * time.Hour, "5 minutes"}, {2 * 24 * time.Hour, "1 hour"},
		{20 * 24 * time.Hour, "12 hours"}, {30 * 24 * time.Hour, "1 day"}, {400 * 24 * time.Hour, "1 week"},
		{40 * 365 * 24 * time.Hour, "365 days"},
	} {
		to := from.Add(c.span)
		bounds, name, days := histogramBounds(from, to, berlin)
		if name != c.name {
			t.Errorf("span %s: bars of %s, want %s", c.span, name, c.name)
		}
		if len(bounds) < 2 || len(bounds) > maxBars+2 || bounds[0].After(from) || !bounds[len(bounds)-1].After(to) {
			t.Errorf("span %s: %d bounds from %s to %s", c.span, len(bounds), bounds[0], bounds[len(bounds)-1])
		}
		for i := 1; i < len(bounds); i++ {
			if !bounds[i].After(bounds[i-1]) {
				t.Fatalf("span %s: bounds do not increase at %d", c.span, i)
			}
		}
		if days > 0 {
			if h, m, _ := bounds[0].In(berlin).Clock(); h != 0 || m != 0 {
				t.Errorf("span %s: day bars start at %s, not midnight in Berlin", c.span, bounds[0].In(berlin))
			}
		}
	}
}

func TestUIShowsOnlyWhatThePermissionsAllow(t *testing.T) {
	e, _ := newUIEnv(t)
	_, _, reader := e.page(t, "GET", "/admin/audit-log", e.session(t, "audrey"), nil)
	_, _, admin := e.page(t, "GET", "/admin/audit-log", e.session(t, auditlog.AdminUsername), nil)
	for _, c := range []struct {
		what         string
		reader, both bool
	}{
		{"Download all activities", false, true},
		{`href="/admin/users"`, false, true},
		{`href="/admin/audit-log"`, true, true},
	} {
		if got := strings.Contains(reader, c.what); got != c.reader {
			t.Errorf("a reader without export or admin sees %q: %v, want %v", c.what, got, c.reader)
		}
		if got := strings.Contains(admin, c.what); got != c.both {
			t.Errorf("a System Admin sees %q: %v, want %v", c.what, got, c.both)
		}
	}
}

func TestUIActivityPageVerifiesItsInclusion(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	path := "/admin/audit-log/5"
	_, _, body := e.page(t, "GET", path, cookie, nil)
	if !strings.Contains(body, `<span class="included">Included</span>`) || !strings.Contains(body, `<span class="verified">Verified:</span>`) {
		t.Fatalf("activity 5 is not shown as included and verified: %s", body)
	}
	e.sqlExec(t, `UPDATE activities SET object_name = 'edited behind the log''s back' WHERE id = 5`)
	_, _, body = e.page(t, "GET", path, cookie, nil)
	if !strings.Contains(body, `<span class="altered">Does not verify:</span>`) || strings.Contains(body, `class="verified"`) {
		t.Fatalf("an edited activity is not shown as altered: %s", body)
	}
	e.record(t, machineActivity)
	acts, _, err := e.db.FindActivities(context.Background(), auditlog.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, _, body = e.page(t, "GET", fmt.Sprintf("/admin/audit-log/%d", acts[0].ID), cookie, nil)
	if !strings.Contains(body, "Not yet included") {
		t.Errorf("an activity after the latest checkpoint is not shown as pending")
	}
}

// A store whose tree no longer extends the checkpoint the service saved
// is shown as such on every activity page, never as verified.
func TestUIActivityPageIsNotVerifiedOnARefusedStore(t *testing.T) {
	e, _ := newUIEnv(t)
	cp := &tlog.Checkpointer{Store: e.db, Signer: e.signer, Saved: tlog.SavedCheckpoint{Path: filepath.Join(e.dir, tlog.SavedCheckpointFile)}}
	e.server.trustedCP = cp.Trusted
	cookie := e.session(t, auditlog.AdminUsername)
	signed, err := cp.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.page(t, "GET", "/admin/audit-log/5", cookie, nil); !strings.Contains(body, `<span class="verified">Verified:</span>`) {
		t.Fatalf("activity 5 is not verified before the attack: %s", body)
	}
	cut := signed.Size - 1 // the newest activity goes, with its leaf and checkpoint
	e.sqlExec(t, `DELETE FROM activities WHERE id > ?`, cut)
	e.sqlExec(t, `UPDATE tiles SET hashes = CAST(substr(hashes, 1, ? * 32) AS BLOB) WHERE level = 0 AND idx = 0`, cut)
	e.sqlExec(t, `DELETE FROM checkpoints WHERE tree_size > ?`, cut)
	if _, err := cp.Publish(context.Background()); err == nil || !strings.Contains(err.Error(), "activities were removed") {
		t.Fatalf("publishing on the cut store: %v", err)
	}
	_, _, body := e.page(t, "GET", "/admin/audit-log/5", cookie, nil)
	if strings.Contains(body, `class="verified"`) || !strings.Contains(body, `<span class="altered">Not verified:</span>`) || !strings.Contains(body, "activities were removed") {
		t.Fatalf("activity 5 on the refused store: %s", body)
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestUIStaticFiles(t *testing.T) {
	e := newAPIEnv(t)
	for path, want := range map[string]int{"/static/style.css": 200, "/static/app.js": 200, "/static/": 404, "/static/missing.css": 404} {
		if status, _, _ := e.page(t, "GET", path, "", nil); status != want {
			t.Errorf("%s answered %d, want %d", path, status, want)
		}
	}
}

func TestUIHistogramSpansTheChosenDateRange(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	// The activities start on 2026-11-20 at 10:00 UTC; the range begins
	// a day earlier and ends on the 21st.
	_, _, body := e.page(t, "GET", "/admin/audit-log?created_from=2026-11-19&created_to=2026-11-21&tz=UTC", cookie, nil)
	if !strings.Contains(body, "from 2026-11-19 00:00 UTC to 2026-11-22 00:00 UTC") {
		i := strings.Index(body, "activities (")
		t.Fatalf("the histogram does not span the chosen range: %.160s", body[max(i, 0):])
	}
	// Without one it spans the matches: the first (the environment's token,
	// on 2026-11-18 at 10:00) in the first 3-hour bar.
	_, _, body = e.page(t, "GET", "/admin/audit-log?tz=UTC", cookie, nil)
	if !strings.Contains(body, "from 2026-11-18 09:00 UTC") {
		i := strings.Index(body, "activities (")
		t.Fatalf("without a range the histogram does not start at the first match: %.160s", body[max(i, 0):])
	}
}

// Recorded text cannot hide or reorder what the page shows around it:
// invisible and bidirectional-control characters are shown as <U+XXXX>.
func TestUIShowsInvisibleCharactersVisibly(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	sneaky := "invoice\u202Efdp.exe\u200b"
	body, _ := json.Marshal(map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "object_name": sneaky,
		"extra": map[string]string{"note": sneaky}, "object_column_changes": []map[string]string{{"column_name": "file", "old_value": "a\u2066b", "new_value": sneaky}}})
	ids := e.record(t, string(body))
	_, _, page := e.page(t, "GET", fmt.Sprintf("/admin/audit-log/%d", ids[0]), cookie, nil)
	for _, r := range []string{"\u202E", "\u200b", "\u2066"} {
		if strings.Contains(page, r) {
			t.Errorf("the page shows %U raw", []rune(r)[0])
		}
	}
	for _, want := range []string{`invoice<span class="invisible">&lt;U+202E&gt;</span>fdp.exe<span class="invisible">&lt;U+200B&gt;</span>`, `a<span class="invisible">&lt;U+2066&gt;</span>b`} {
		if strings.Count(page, want) == 0 {
			t.Errorf("the page does not show %s", want)
		}
	}
}

// A refused filter leaves the panel open with what was typed, says why,
// and does not claim that nothing matches.
func TestUIARefusedFilterKeepsThePanelOpen(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	status, _, body := e.page(t, "GET", "/admin/audit-log?username=alice&created_from=not-a-date", cookie, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `<details class="filters" open>`) || !strings.Contains(body, "created_from must be") ||
		strings.Contains(body, "No activities match") || !strings.Contains(body, `value="alice"`) {
		t.Fatalf("a refused filter: %d %s", status, body)
	}
}

// A refused search is explained next to the search box, which keeps it,
// and leaves the filter panel as the other filters leave it.
func TestUIARefusedSearchIsExplainedNextToTheBox(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	status, _, body := e.page(t, "GET", "/admin/audit-log?q="+url.QueryEscape(`firefox activity:NOPE`), cookie, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `<p id="q-error" class="field-error" role="alert">`) ||
		!strings.Contains(body, `&#34;activity:NOPE&#34;`) || strings.Contains(body, `<details class="filters" open>`) ||
		!strings.Contains(body, `value="firefox activity:NOPE"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("a refused search: %d %s", status, body)
	}
	status, _, body = e.page(t, "GET", "/admin/audit-log?q=firefox", cookie, nil)
	if status != http.StatusOK || strings.Contains(body, `q-error`) || strings.Contains(body, `<details class="filters" open>`) ||
		!strings.Contains(body, "Clear filters and search") {
		t.Fatalf("a search: %d %s", status, body)
	}
}

// The activity page leads to the next newer and older activity among
// those the audit log's filters selected.
func TestUIActivityPageLeadsToItsNeighbours(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	acts, _, err := e.db.FindActivities(context.Background(), auditlog.Filter{Usernames: []string{"bob"}, Limit: 3})
	if err != nil || len(acts) < 3 {
		t.Fatalf("bob's activities: %v, %v", acts, err)
	}
	_, _, body := e.page(t, "GET", fmt.Sprintf("/admin/audit-log/%d?username=bob", acts[1].ID), cookie, nil)
	for _, want := range []string{fmt.Sprintf(`href="/admin/audit-log/%d?username=bob" rel="prev"`, acts[0].ID), fmt.Sprintf(`href="/admin/audit-log/%d?username=bob" rel="next"`, acts[2].ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of bob's second newest lacks %s", want)
		}
	}
	_, _, body = e.page(t, "GET", fmt.Sprintf("/admin/audit-log/%d?username=bob", acts[0].ID), cookie, nil)
	if strings.Contains(body, `rel="prev"`) {
		t.Error("bob's newest activity links to a newer one")
	}
}

func TestUIActivityTypesListsTheCatalogueAndRegistersATypes(t *testing.T) {
	e, _ := newUIEnv(t)
	cookie := e.session(t, auditlog.AdminUsername)
	status, header, _ := e.page(t, "POST", "/admin/activity-types", cookie, url.Values{"display_name": {"Approve Invoice"}, "description": {"An invoice is approved"}, "subtypes": {"By Rule, Manually"}})
	if status != http.StatusSeeOther || !strings.Contains(header.Get("Location"), "done=type-created") {
		t.Fatalf("registering a type: %d %v", status, header)
	}
	_, _, body := e.page(t, "GET", "/admin/activity-types?q=invoice", cookie, nil)
	for _, want := range []string{"<code>APPROVE_INVOICE</code>", "By Rule <code>BY_RULE</code>, Manually <code>MANUALLY</code>", "custom", "1 type match"} {
		if !strings.Contains(body, want) {
			t.Errorf("the search for invoice lacks %q", want)
		}
	}
	if strings.Contains(body, "<code>USER_LOGIN</code>") {
		t.Error("the search for invoice lists USER_LOGIN")
	}
	_, _, body = e.page(t, "GET", "/admin/activity-types", cookie, nil)
	if !strings.Contains(body, "<code>USER_LOGIN</code>") || !strings.Contains(body, "built in") {
		t.Error("the whole catalogue is not listed")
	}
	status, _, body = e.page(t, "POST", "/admin/activity-types", cookie, url.Values{"display_name": {"Approve Invoice"}})
	if status != http.StatusConflict || !strings.Contains(body, `class="error"`) {
		t.Errorf("registering the same type again: %d", status)
	}
	if a := newestActivity(t, e); a.SystemName != "CREATE_ACTIVITY_TYPE" || a.Username != auditlog.AdminUsername {
		t.Errorf("the registration was recorded as %s by %q", a.SystemName, a.Username)
	}
}

func TestUIWitnessesShowsEachWitnesssState(t *testing.T) {
	e := newAPIEnv(t)
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	cookie := e.login(t, "audrey", testPassword, "", nil, nil).session.Value
	_, _, body := e.page(t, "GET", "/admin/witnesses", cookie, nil)
	if !strings.Contains(body, "No witness") {
		t.Errorf("the page of a log without witnesses:\n%s", body)
	}
	ctx := context.Background()
	if err := e.db.AddCosignature(ctx, auditlog.Cosignature{Witness: "witness.example/w1", Size: 42, Line: "— witness.example/w1 AAAA\n"}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetWitnessState(ctx, auditlog.WitnessState{Witness: "witness.example/w2", Size: 7, LastError: "the witness answered 503 Service Unavailable"}); err != nil {
		t.Fatal(err)
	}
	status, _, body := e.page(t, "GET", "/admin/witnesses", cookie, nil)
	for _, want := range []string{"witness.example/w1", "the first 42 activities", "Cosigned", "witness.example/w2", "the first 7 activities", "Failed:", "503 Service Unavailable", `aria-current="page">Witnesses`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("the witnesses page (%d) lacks %q", status, want)
		}
	}
}
