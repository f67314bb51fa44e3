package http

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// apiRoute is one authenticated operation with a request that succeeds for
// a principal holding its permission. path and body may depend on the
// principal (its index), so that each principal changes objects of its own.
type apiRoute struct {
	method, pattern string // pattern: the documented path
	path            func(i int) string
	body            func(i int) string
	perm            auditlog.Permission // "" for any authenticated principal
	success         int                 // 0: 200, or 201 for POST
	// tokenStatus is the status a token principal that holds perm gets,
	// when it differs from success (logging out needs a session).
	tokenStatus int
}

func fixed(path string) func(int) string { return func(int) string { return path } }

// policyPrincipal is a principal of the permission table: a bearer token or
// a session cookie.
type policyPrincipal struct {
	name          string
	token, cookie string
	holds         []auditlog.Permission // nil: not authenticated (401)
}

// doAs sends a request as the principal.
func (e *apiEnv) doAs(t *testing.T, p policyPrincipal, method, path, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req := e.request(t, method, path, body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	if p.cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: p.cookie})
	}
	return e.send(t, req)
}

// session opens a session for username through the store and returns its secret.
func (e *apiEnv) session(t *testing.T, username string) string {
	t.Helper()
	secret := auditlog.GenerateSessionSecret()
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: username}
	if _, err := e.db.CreateSession(context.Background(), by, auditlog.NewSession{Username: username,
		Expires: e.clock.Now().Add(time.Hour), IdleTimeout: time.Hour}, secret); err != nil {
		t.Fatalf("session for %s: %v", username, err)
	}
	return secret
}

// TestAPIAuthorization walks every authenticated operation with every kind
// of principal and checks the status against the policy: 401 without valid
// credentials, 403 without the permission, success with it.
func TestAPIAuthorization(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	if _, err := e.db.Bootstrap(ctx, "unused-hash"); err != nil {
		t.Fatal(err)
	}
	read, write, export, admin := auditlog.PermActivitiesRead, auditlog.PermActivitiesWrite, auditlog.PermActivitiesExport, auditlog.PermAdmin
	logRead := auditlog.PermLogRead
	all := auditlog.AllPermissions
	perms := func(ps ...auditlog.Permission) []auditlog.Permission { return append([]auditlog.Permission{}, ps...) }
	if _, err := e.db.CreateGroup(ctx, setup, "Ingest", perms(write)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateGroup(ctx, setup, "Auditors", perms(read, export)); err != nil {
		t.Fatal(err)
	}
	for user, group := range map[string]string{"ingrid": "Ingest", "audrey": "Auditors", "sam": auditlog.SystemAdminGroup, "dora": auditlog.SystemAdminGroup} {
		if _, err := e.db.CreateUser(ctx, setup, user, group, "unused-hash"); err != nil {
			t.Fatal(err)
		}
	}
	id := e.record(t, machineActivity)[0]
	size := e.publish(t)

	revoked := e.token(t, auditlog.NewToken{Name: "revoked", Scopes: all})
	e.sqlExec(t, `UPDATE api_tokens SET revoked_us = ? WHERE name = 'revoked'`, apiBase.UnixMicro())
	disabled := e.token(t, auditlog.NewToken{Name: "dora's", Scopes: all, Username: "dora"})
	doraSession := e.session(t, "dora")
	e.sqlExec(t, `UPDATE users SET disabled = 1 WHERE username = 'dora'`)
	ended := e.session(t, "sam")
	e.sqlExec(t, `UPDATE sessions SET ended_us = 1 WHERE secret_hash = ?`, auditlog.HashToken(ended))

	principals := []policyPrincipal{
		{name: "no credentials"},
		{name: "an unknown token", token: auditlog.GenerateTokenSecret()},
		{name: "a revoked token", token: revoked},
		{name: "an expired token", token: e.token(t, auditlog.NewToken{Name: "expired", Scopes: all, Expires: apiBase.Add(-time.Second)})},
		{name: "a token of a disabled user", token: disabled},
		{name: "an unknown session", cookie: auditlog.GenerateSessionSecret()},
		{name: "a logged-out session", cookie: ended},
		{name: "a session of a disabled user", cookie: doraSession},
		{name: "a write-only machine token", token: e.token(t, auditlog.NewToken{Name: "ingest", Scopes: perms(write)}), holds: perms(write)},
		{name: "a read-only machine token", token: e.token(t, auditlog.NewToken{Name: "reader", Scopes: perms(read)}), holds: perms(read)},
		{name: "a read and export machine token", token: e.token(t, auditlog.NewToken{Name: "exporter", Scopes: perms(read, export)}), holds: perms(read, export)},
		{name: "a monitor's log:read token", token: e.token(t, auditlog.NewToken{Name: "monitor", Scopes: perms(logRead)}), holds: perms(logRead)},
		{name: "an admin-only machine token", token: e.token(t, auditlog.NewToken{Name: "admin-only", Scopes: perms(admin)}), holds: perms(admin)},
		{name: "a System Admin user's token with every scope", token: e.token(t, auditlog.NewToken{Name: "sam's", Scopes: all, Username: "sam"}), holds: all},
		{name: "a System Admin user's read-only token", token: e.token(t, auditlog.NewToken{Name: "sam's reader", Scopes: perms(read), Username: "sam"}), holds: perms(read)},
		{name: "a token with every scope of a user whose group only records", token: e.widenedToken(t, "ingrid's", "ingrid", perms(write), all), holds: perms(write)},
		{name: "a token with every scope of a user whose group reads and exports", token: e.widenedToken(t, "audrey's", "audrey", perms(read), all), holds: perms(read, export)},
		{name: "a write token of a user whose group cannot write", token: e.widenedToken(t, "audrey's writer", "audrey", perms(read), perms(write)), holds: perms()},
		{name: "a System Admin's session", cookie: e.session(t, "sam"), holds: all},
		{name: "an Auditor's session", cookie: e.session(t, "audrey"), holds: perms(read, export)},
		{name: "an Ingest user's session", cookie: e.session(t, "ingrid"), holds: perms(write)},
	}

	// Each principal that may administer gets objects of its own to change.
	for i, p := range principals {
		if !slices.Contains(p.holds, admin) {
			continue
		}
		for _, g := range []string{"edit", "drop", "bulk-a", "bulk-b", "quiet"} {
			if _, err := e.db.CreateGroup(ctx, setup, fmt.Sprintf("%s-%d", g, i), nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []string{"edit", "drop", "back", "seen"} {
			if _, err := e.db.CreateUser(ctx, setup, fmt.Sprintf("%s-%d", u, i), "Auditors", "unused-hash"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.db.DeleteUser(ctx, setup, fmt.Sprintf("back-%d", i)); err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{"revoke", "reset"} {
			e.token(t, auditlog.NewToken{Name: fmt.Sprintf("%s-%d", tk, i), Scopes: perms(read)})
		}
		e.session(t, fmt.Sprintf("edit-%d", i))
		e.session(t, fmt.Sprintf("seen-%d", i))
		for _, st := range []string{"show", "pause", "resume", "replay", "drop"} {
			made, err := e.db.CreateStream(ctx, setup, auditlog.NewStream{Name: fmt.Sprintf("%s-%d", st, i), Type: "webhook",
				URL: "http://127.0.0.1:1/hook", Secret: auditlog.NewWebhookSecret()})
			if err != nil {
				t.Fatal(err)
			}
			if st == "resume" {
				if _, err := e.db.PauseStream(ctx, setup, made.ID, true); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	streamID := func(name string) int64 {
		streams, err := e.db.Streams(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams {
			if st.Name == name {
				return st.ID
			}
		}
		return 999_999
	}
	streamPath := func(name, suffix string) func(int) string {
		return func(i int) string {
			return fmt.Sprintf("/api/v1/streams/%d%s", streamID(fmt.Sprintf("%s-%d", name, i)), suffix)
		}
	}
	tokenID := func(name string) int64 {
		tokens, err := e.db.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tokens {
			if tk.Name == name {
				return tk.ID
			}
		}
		return 999_999 // no such token: the request is refused before it matters
	}
	sessionOf := func(username string) int64 {
		sessions, err := e.db.Sessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			if s.Username == username {
				return s.ID
			}
		}
		return 999_999
	}

	routes := []apiRoute{
		{method: "POST", pattern: "/api/v1/activities", path: fixed("/api/v1/activities"), body: func(int) string { return machineActivity }, perm: write},
		{method: "GET", pattern: "/api/v1/activities", path: fixed("/api/v1/activities"), perm: read},
		{method: "GET", pattern: "/api/v1/activities/{id}", path: fixed(fmt.Sprintf("/api/v1/activities/%d", id)), perm: read},
		{method: "GET", pattern: "/api/v1/activities/export.csv", path: fixed("/api/v1/activities/export.csv"), perm: export},
		{method: "GET", pattern: "/api/v1/activities/export.jsonl", path: fixed("/api/v1/activities/export.jsonl"), perm: export},
		{method: "GET", pattern: "/api/v1/activities/export.bundle", path: fixed("/api/v1/activities/export.bundle"), perm: export},
		{method: "GET", pattern: "/api/v1/activities/{id}/proof", path: fixed(fmt.Sprintf("/api/v1/activities/%d/proof", id)), perm: logRead},
		{method: "GET", pattern: "/api/v1/consistency", path: fixed(fmt.Sprintf("/api/v1/consistency?from=%d", size)), perm: logRead},
		{method: "GET", pattern: "/api/v1/checkpoint", path: fixed("/api/v1/checkpoint"), perm: logRead},
		{method: "GET", pattern: "/api/v1/checkpoint/key", path: fixed("/api/v1/checkpoint/key"), perm: logRead},
		{method: "GET", pattern: "/api/v1/witnesses", path: fixed("/api/v1/witnesses"), perm: logRead},
		{method: "GET", pattern: "/tlog/checkpoint", path: fixed("/tlog/checkpoint"), perm: logRead},
		{method: "GET", pattern: "/tlog/tile/{path}", path: fixed("/tlog/" + torchwood.TilePath(sumdb.Tile{H: 8, L: 0, N: 0, W: int(min(size, 256))})), perm: logRead},
		{method: "GET", pattern: "/tlog/tile/entries/{path}", path: fixed("/tlog/" + torchwood.TilePath(sumdb.Tile{H: 8, L: -1, N: 0, W: int(min(size, 256))})), perm: read},
		{method: "GET", pattern: "/api/v1/activity-types", path: fixed("/api/v1/activity-types")},
		{method: "POST", pattern: "/api/v1/activity-types", path: fixed("/api/v1/activity-types"), body: func(i int) string {
			return fmt.Sprintf(`{"display_name":"Custom for principal %d"}`, i)
		}, perm: admin},
		{method: "GET", pattern: "/api/v1/session", path: fixed("/api/v1/session")},
		{method: "GET", pattern: "/api/v1/users", path: fixed("/api/v1/users"), perm: admin},
		{method: "POST", pattern: "/api/v1/users", path: fixed("/api/v1/users"), body: func(i int) string {
			return fmt.Sprintf(`{"username":"new-%d","group":"Auditors","password":"correct horse battery staple"}`, i)
		}, perm: admin},
		{method: "GET", pattern: "/api/v1/users/{username}", path: fixed("/api/v1/users/audrey"), perm: admin},
		{method: "PATCH", pattern: "/api/v1/users/{username}", path: func(i int) string { return fmt.Sprintf("/api/v1/users/edit-%d", i) },
			body: func(int) string { return `{"group":"Ingest"}` }, perm: admin},
		{method: "DELETE", pattern: "/api/v1/users/{username}", path: func(i int) string { return fmt.Sprintf("/api/v1/users/drop-%d", i) }, perm: admin},
		{method: "POST", pattern: "/api/v1/users/{username}/restore", path: func(i int) string { return fmt.Sprintf("/api/v1/users/back-%d/restore", i) }, perm: admin, success: http.StatusOK},
		{method: "DELETE", pattern: "/api/v1/users/{username}/sessions", path: func(i int) string { return fmt.Sprintf("/api/v1/users/edit-%d/sessions", i) }, perm: admin},
		{method: "GET", pattern: "/api/v1/groups", path: fixed("/api/v1/groups"), perm: admin},
		{method: "POST", pattern: "/api/v1/groups", path: fixed("/api/v1/groups"), body: func(i int) string {
			return fmt.Sprintf(`{"name":"made-%d","permissions":["activities:read"]}`, i)
		}, perm: admin},
		{method: "GET", pattern: "/api/v1/groups/{name}", path: fixed("/api/v1/groups/Auditors"), perm: admin},
		{method: "PATCH", pattern: "/api/v1/groups/{name}", path: func(i int) string { return fmt.Sprintf("/api/v1/groups/edit-%d", i) },
			body: func(int) string { return `{"permissions":["activities:read","activities:export"]}` }, perm: admin},
		{method: "DELETE", pattern: "/api/v1/groups/{name}", path: func(i int) string { return fmt.Sprintf("/api/v1/groups/drop-%d", i) }, perm: admin, success: http.StatusNoContent},
		{method: "DELETE", pattern: "/api/v1/groups", path: func(i int) string { return fmt.Sprintf("/api/v1/groups?name=bulk-a-%d&name=bulk-b-%d", i, i) }, perm: admin, success: http.StatusNoContent},
		{method: "DELETE", pattern: "/api/v1/groups/{name}/sessions", path: func(i int) string { return fmt.Sprintf("/api/v1/groups/quiet-%d/sessions", i) }, perm: admin},
		{method: "GET", pattern: "/api/v1/tokens", path: fixed("/api/v1/tokens"), perm: admin},
		{method: "POST", pattern: "/api/v1/tokens", path: fixed("/api/v1/tokens"), body: func(i int) string {
			return fmt.Sprintf(`{"name":"made-%d","scopes":["activities:write"],"expires_in":3600}`, i)
		}, perm: admin},
		{method: "DELETE", pattern: "/api/v1/tokens/{id}", path: func(i int) string { return fmt.Sprintf("/api/v1/tokens/%d", tokenID(fmt.Sprintf("revoke-%d", i))) }, perm: admin},
		{method: "POST", pattern: "/api/v1/tokens/{id}/reset", path: func(i int) string { return fmt.Sprintf("/api/v1/tokens/%d/reset", tokenID(fmt.Sprintf("reset-%d", i))) }, perm: admin, success: http.StatusOK},
		{method: "GET", pattern: "/api/v1/streams", path: fixed("/api/v1/streams"), perm: admin},
		{method: "POST", pattern: "/api/v1/streams", path: fixed("/api/v1/streams"), body: func(i int) string {
			return fmt.Sprintf(`{"name":"made-%d","type":"webhook","url":"https://siem.example/hook","filter":"operator=human"}`, i)
		}, perm: admin},
		{method: "GET", pattern: "/api/v1/streams/{id}", path: streamPath("show", ""), perm: admin, success: http.StatusOK},
		{method: "POST", pattern: "/api/v1/streams/{id}/pause", path: streamPath("pause", "/pause"), perm: admin, success: http.StatusOK},
		{method: "POST", pattern: "/api/v1/streams/{id}/resume", path: streamPath("resume", "/resume"), perm: admin, success: http.StatusOK},
		{method: "POST", pattern: "/api/v1/streams/{id}/replay", path: streamPath("replay", "/replay"), body: func(int) string { return `{"from_id":1}` }, perm: admin, success: http.StatusOK},
		{method: "DELETE", pattern: "/api/v1/streams/{id}", path: streamPath("drop", ""), perm: admin, success: http.StatusNoContent},
		{method: "GET", pattern: "/api/v1/sessions", path: fixed("/api/v1/sessions"), perm: admin},
		{method: "GET", pattern: "/metrics", path: fixed("/metrics"), perm: admin},
		{method: "DELETE", pattern: "/api/v1/sessions/{id}", path: func(i int) string {
			return fmt.Sprintf("/api/v1/sessions/%d", sessionOf(fmt.Sprintf("seen-%d", i)))
		}, perm: admin},
		// Last: it ends the session that the principal's other requests used.
		{method: "DELETE", pattern: "/api/v1/session", path: fixed("/api/v1/session"), success: http.StatusNoContent, tokenStatus: http.StatusBadRequest},
	}
	assertEveryAuthenticatedOperationIsWalked(t, routes)

	for i, p := range principals {
		for _, r := range routes {
			want := http.StatusForbidden
			switch {
			case p.holds == nil:
				want = http.StatusUnauthorized
			case r.perm == "" || slices.Contains(p.holds, r.perm) || r.perm == logRead && slices.Contains(p.holds, read):
				want = r.success
				if want == 0 {
					want = http.StatusOK
					if r.method == "POST" {
						want = http.StatusCreated
					}
				}
				if p.token != "" && r.tokenStatus != 0 {
					want = r.tokenStatus
				}
			}
			path := r.path(i)
			t.Run(fmt.Sprintf("%s gets %d from %s %s", p.name, want, r.method, path), func(t *testing.T) {
				body := ""
				if r.body != nil {
					body = r.body(i)
				}
				status, header, resp := e.doAs(t, p, r.method, path, body, nil)
				switch want {
				case http.StatusUnauthorized:
					wantError(t, status, resp, want, auditlog.EUNAUTHORIZED, "", -1)
					if !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", header.Get("WWW-Authenticate"))
					}
				case http.StatusForbidden:
					got := wantError(t, status, resp, want, auditlog.EFORBIDDEN, "", -1)
					if !strings.Contains(got.Message, string(r.perm)) {
						t.Errorf("403 message %q does not name the permission %s", got.Message, r.perm)
					}
				default:
					if status != want {
						t.Fatalf("answered %d %s, want %d", status, resp, want)
					}
				}
				for _, secret := range []string{p.token, p.cookie} {
					if secret != "" && strings.Contains(string(resp), secret) {
						t.Errorf("the answer holds the principal's secret: %s", resp)
					}
				}
			})
		}
	}
}

// assertEveryAuthenticatedOperationIsWalked fails when openapi.json documents
// an operation that needs credentials and routes lacks it, so that a new
// endpoint cannot escape the permission table.
func assertEveryAuthenticatedOperationIsWalked(t *testing.T, routes []apiRoute) {
	t.Helper()
	doc, err := loadOpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	walked := map[string]bool{}
	for _, r := range routes {
		walked[r.method+" "+r.pattern] = true
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			if !walked[method+" "+path] {
				t.Errorf("%s %s needs credentials but the permission table does not walk it", method, path)
			}
		}
	}
}

// widenedToken makes a token of the user with scopes its group holds,
// then gives it scopes as a token made before the group lost some would
// hold them: authentication must still grant only the group's.
func (e *apiEnv) widenedToken(t *testing.T, name, user string, held, scopes []auditlog.Permission) string {
	t.Helper()
	secret := e.token(t, auditlog.NewToken{Name: name, Scopes: held, Username: user})
	e.sqlExec(t, `UPDATE api_tokens SET scopes = ? WHERE name = ?`, sqlstore.JoinPermissions(scopes), name)
	return secret
}
