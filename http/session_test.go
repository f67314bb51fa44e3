package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

const testPassword = "correct horse battery staple"

// loopback trusts the test client as a proxy, so that X-Forwarded-For
// sets each request's client address.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// addUser creates a user with testPassword through the store, after the
// first start's System Admin group and admin user.
func (e *apiEnv) addUser(t *testing.T, username, group string) {
	t.Helper()
	if _, err := e.db.Bootstrap(context.Background(), "unused-hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateUser(context.Background(), setup, username, group, password.Hash(testPassword, testPasswordParams)); err != nil {
		t.Fatal(err)
	}
}

type loginResult struct {
	status  int
	header  http.Header
	body    []byte
	session *http.Cookie
	device  *http.Cookie
}

// login posts credentials, from the client address from when the server
// trusts the test client as a proxy, with the extra cookies and headers.
func (e *apiEnv) login(t *testing.T, username, pw, from string, cookies []*http.Cookie, headers map[string]string) loginResult {
	t.Helper()
	body, _ := json.Marshal(loginRequest{Username: username, Password: pw})
	req := e.request(t, "POST", "/api/v1/session", string(body))
	req.Header.Set("User-Agent", "Firefox 131")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	status, header, resp := e.send(t, req)
	r := loginResult{status: status, header: header, body: resp}
	for _, c := range (&http.Response{Header: header}).Cookies() {
		switch c.Name {
		case SessionCookie:
			r.session = c
		case DeviceCookie:
			r.device = c
		}
	}
	return r
}

// withCookie sends a request that authenticates with a session cookie.
func (e *apiEnv) withCookie(t *testing.T, method, path, secret, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	return e.doAs(t, policyPrincipal{cookie: secret}, method, path, body, headers)
}

func newestActivity(t *testing.T, e *apiEnv) auditlog.Activity {
	t.Helper()
	acts, _, err := e.db.FindActivities(context.Background(), auditlog.Filter{Limit: 1})
	if err != nil || len(acts) == 0 {
		t.Fatalf("newest activity: %v", err)
	}
	return acts[0]
}

func extraOf(t *testing.T, a auditlog.Activity) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(a.Extra, &m); err != nil {
		t.Fatalf("activity %d extra %s: %v", a.ID, a.Extra, err)
	}
	return m
}

func TestLoginOpensASessionAndRecordsIt(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	r := e.login(t, "audrey", testPassword, "198.51.100.4", nil, nil)
	if r.status != http.StatusCreated || r.session == nil {
		t.Fatalf("login answered %d %s", r.status, r.body)
	}
	c := r.session
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP, 12 hours", c)
	}
	if !strings.HasPrefix(c.Value, auditlog.SessionPrefix) {
		t.Errorf("session secret %q lacks its prefix", c.Value)
	}
	var who principalJSON
	if err := json.Unmarshal(r.body, &who); err != nil || who.Username != "audrey" || who.Via != "session" || len(who.Permissions) != len(auditlog.AllPermissions) {
		t.Fatalf("login answered %s (%v)", r.body, err)
	}
	login := newestActivity(t, e)
	extra := extraOf(t, login)
	if login.SystemName != "USER_LOGIN" || login.Operator != auditlog.OperatorHuman || login.Username != "audrey" ||
		extra["client_address"] != "198.51.100.4" || extra["user_agent"] != "Firefox 131" || extra["session_id"] != strconv.FormatInt(who.SessionID, 10) {
		t.Fatalf("login recorded as %+v with extra %v", login, extra)
	}

	status, _, body := e.withCookie(t, "GET", "/api/v1/session", c.Value, "", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"authenticated_by":"session"`) {
		t.Fatalf("GET /session with the cookie: %d %s", status, body)
	}
	status, _, _ = e.withCookie(t, "POST", "/api/v1/activities", c.Value, machineActivity, nil)
	if status != http.StatusCreated {
		t.Fatalf("recording with the session: %d", status)
	}

	status, header, _ := e.withCookie(t, "DELETE", "/api/v1/session", c.Value, "", nil)
	if status != http.StatusNoContent || !strings.Contains(header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, Set-Cookie %q", status, header.Get("Set-Cookie"))
	}
	if out := newestActivity(t, e); out.SystemName != "USER_LOGOUT" || out.Username != "audrey" {
		t.Fatalf("logout recorded as %s by %q", out.SystemName, out.Username)
	}
	status, _, body = e.withCookie(t, "GET", "/api/v1/session", c.Value, "", nil)
	wantError(t, status, body, http.StatusUnauthorized, auditlog.EUNAUTHORIZED, "", -1)
}

func TestSessionCookieIsSecureUnderTLS(t *testing.T) {
	e := newAPIEnv(t)
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	tlsSrv := httptest.NewTLSServer(e.server)
	defer tlsSrv.Close()
	body, _ := json.Marshal(loginRequest{Username: "audrey", Password: testPassword})
	resp, err := tlsSrv.Client().Post(tlsSrv.URL+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, c := range resp.Cookies() {
		found = found || c.Name == SessionCookie
		if !c.Secure {
			t.Errorf("cookie %s over HTTPS without Secure", c.Name)
		}
	}
	if resp.StatusCode != http.StatusCreated || !found {
		t.Fatalf("login over HTTPS: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}

	// Behind a trusted proxy that terminates TLS, the proxy says so.
	proxied := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	proxied.addUser(t, "audrey", auditlog.SystemAdminGroup)
	if r := proxied.login(t, "audrey", testPassword, "198.51.100.4", nil, map[string]string{"X-Forwarded-Proto": "https"}); r.session == nil || !r.session.Secure {
		t.Errorf("behind a TLS proxy the session cookie is %+v, want Secure", r.session)
	}
	if r := e.login(t, "audrey", testPassword, "", nil, map[string]string{"X-Forwarded-Proto": "https"}); r.session == nil || r.session.Secure {
		t.Errorf("an untrusted X-Forwarded-Proto made the cookie %+v", r.session)
	}
}

func TestFailedLoginsLookAlikeAndAreRecorded(t *testing.T) {
	var verified atomic.Int64
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	verify := e.server.verifyPassword
	e.server.verifyPassword = func(pw, hash string) (bool, error) { verified.Add(1); return verify(pw, hash) }
	ctx := context.Background()
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	e.addUser(t, "dora", auditlog.SystemAdminGroup)
	e.addUser(t, "gone", auditlog.SystemAdminGroup)
	yes := true
	if _, err := e.db.UpdateUser(ctx, setup, "dora", auditlog.UserChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.DeleteUser(ctx, setup, "gone"); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, username, password, reason string }{
		{"a wrong password", "audrey", "not the password", "wrong password"},
		{"an unknown user", "nobody", testPassword, "unknown user"},
		{"a disabled user", "dora", testPassword, "user disabled"},
		{"a deleted user", "gone", testPassword, "user deleted"},
	}
	var bodies []string
	for i, c := range cases {
		before := verified.Load()
		r := e.login(t, c.username, c.password, fmt.Sprintf("198.51.100.%d", i+1), nil, nil)
		wantError(t, r.status, r.body, http.StatusUnauthorized, auditlog.EUNAUTHORIZED, "", -1)
		if r.session != nil {
			t.Errorf("%s: a session cookie was set", c.name)
		}
		if n := verified.Load() - before; n != 1 {
			t.Errorf("%s: %d password verifications, want exactly 1 (the same work as any other failure)", c.name, n)
		}
		bodies = append(bodies, string(r.body))
		a := newestActivity(t, e)
		extra := extraOf(t, a)
		recordedAs := c.username
		if c.reason == "unknown user" {
			// A name that names nobody may be a password typed into the
			// wrong field: only a keyed hash of it is kept.
			recordedAs = ""
			if strings.Contains(string(a.Extra)+a.ObjectName, c.username) || !strings.HasPrefix(extra["attempted_username"], "hmac-sha256:") {
				t.Errorf("%s: recorded as %q, %s", c.name, a.ObjectName, a.Extra)
			}
			if again := e.server.throttle.unknownNameHash(strings.ToUpper(c.username)); again != extra["attempted_username"] || again == e.server.throttle.unknownNameHash("somebody") {
				t.Errorf("%s: the hash %q does not tell this name apart from others", c.name, extra["attempted_username"])
			}
		}
		if a.SystemName != "LOGIN_FAILED" || a.Username != recordedAs || extra["reason"] != c.reason ||
			extra["client_address"] != fmt.Sprintf("198.51.100.%d", i+1) || extra["user_agent"] != "Firefox 131" {
			t.Errorf("%s recorded as %s by %q with extra %v", c.name, a.SystemName, a.Username, extra)
		}
		if strings.Contains(string(a.Extra), c.password) {
			t.Errorf("%s: the attempted password is in the activity", c.name)
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("failed logins answer differently:\n%s\n%s", bodies[0], b)
		}
	}
	// The dummy hash costs what a real one costs.
	if !strings.HasPrefix(e.server.dummyHash, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", testPasswordParams.Memory, testPasswordParams.Time, testPasswordParams.Threads)) {
		t.Errorf("dummy hash %q does not use the configured costs", e.server.dummyHash)
	}

	for _, bad := range []struct{ body, field string }{
		{`{"password":"x"}`, "username"},
		{`{"username":"audrey"}`, "password"},
		{`{"username":"audrey","password":"` + strings.Repeat("x", password.MaxLength+1) + `"}`, "password"},
		{`{"username":"audrey","password":"x","remember":true}`, "remember"},
	} {
		status, _, body := e.do(t, "POST", "/api/v1/session", "", bad.body)
		wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, bad.field, -1)
	}
}

func TestFailedLoginsAreThrottledWithoutLockingTheUserOut(t *testing.T) {
	limits := LoginLimits{
		PerAddress: LoginLimit{Burst: 3, Every: time.Minute},
		PerAccount: LoginLimit{Burst: 4, Every: time.Minute},
		PerDevice:  LoginLimit{Burst: 3, Every: time.Minute},
	}
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback; c.LoginLimits = limits })
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	e.addUser(t, "bob", auditlog.SystemAdminGroup)

	// Audrey logs in once from her laptop: it becomes a known device.
	first := e.login(t, "audrey", testPassword, "192.0.2.10", nil, nil)
	if first.status != http.StatusCreated || first.device == nil {
		t.Fatalf("first login: %d, device cookie %v", first.status, first.device)
	}
	if !first.device.HttpOnly || first.device.Path != "/api/v1/session" || first.device.SameSite != http.SameSiteStrictMode {
		t.Errorf("device cookie %+v: want HttpOnly, SameSite=Strict, only for /api/v1/session", first.device)
	}

	// An attacker guesses from many addresses until the account's budget is spent.
	for i := range limits.PerAccount.Burst {
		r := e.login(t, "audrey", "guess", fmt.Sprintf("203.0.113.%d", i+1), nil, nil)
		wantError(t, r.status, r.body, http.StatusUnauthorized, auditlog.EUNAUTHORIZED, "", -1)
	}
	before := e.count(t)
	r := e.login(t, "audrey", testPassword, "203.0.113.99", nil, nil)
	wantError(t, r.status, r.body, http.StatusTooManyRequests, auditlog.ERATELIMIT, "", -1)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
	if n := e.count(t) - before; n != 1 {
		t.Errorf("the first throttled login recorded %d activities, want 1", n)
	}
	trace := newestActivity(t, e)
	if extra := extraOf(t, trace); trace.SystemName != "LOGIN_FAILED" || trace.Username != "audrey" || extra["reason"] != "throttled" || extra["refused_before"] != "0" {
		t.Errorf("the throttled login recorded as %s by %q with %v", trace.SystemName, trace.Username, extra)
	}
	// More refusals within the minute are counted, not recorded, until the
	// next record says how many there were.
	for range 3 {
		if r := e.login(t, "audrey", "guess", "203.0.113.99", nil, nil); r.status != http.StatusTooManyRequests {
			t.Fatalf("a login on the spent budget: %d", r.status)
		}
	}
	if n := e.count(t) - before; n != 1 {
		t.Errorf("refusals within the minute recorded %d activities, want the first only", n)
	}

	// Audrey, from her known device, is not locked out, even with a typo first.
	if r := e.login(t, "audrey", "typo", "192.0.2.10", []*http.Cookie{first.device}, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("a typo from the known device: %d %s", r.status, r.body)
	}
	if r := e.login(t, "audrey", testPassword, "192.0.2.10", []*http.Cookie{first.device}, nil); r.status != http.StatusCreated {
		t.Fatalf("the real user from her known device: %d %s", r.status, r.body)
	}
	// A device cookie is good for its own account only.
	if r := e.login(t, "bob", testPassword, "192.0.2.11", []*http.Cookie{first.device}, nil); r.status != http.StatusCreated {
		t.Fatalf("bob, unthrottled, with audrey's device cookie: %d", r.status)
	}
	forged := &http.Cookie{Name: DeviceCookie, Value: strings.Replace(first.device.Value, ".", "x.", 1)}
	if r := e.login(t, "audrey", testPassword, "198.51.100.200", []*http.Cookie{forged}, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("a forged device cookie bypassed the account's throttle: %d", r.status)
	}

	// One address spraying several accounts spends its own budget.
	for i := range limits.PerAddress.Burst {
		e.login(t, fmt.Sprintf("user%d", i), "guess", "198.51.100.66", nil, nil)
	}
	if r := e.login(t, "bob", testPassword, "198.51.100.66", nil, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("the spraying address: %d, want 429", r.status)
	}

	// Budgets refill: no lockout lasts.
	e.clock.Set(e.clock.Now().Add(time.Minute))
	if r := e.login(t, "audrey", testPassword, "203.0.113.99", nil, nil); r.status != http.StatusCreated {
		t.Fatalf("a minute later: %d %s", r.status, r.body)
	}
}

func TestCrossSiteRequestsWithTheCookieAreRefused(t *testing.T) {
	e := newAPIEnv(t)
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	r := e.login(t, "audrey", testPassword, "", nil, nil)
	if r.session == nil {
		t.Fatalf("login: %d", r.status)
	}
	crossSite := []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	}
	for _, h := range crossSite {
		before := e.count(t)
		status, _, body := e.withCookie(t, "POST", "/api/v1/activities", r.session.Value, machineActivity, h)
		wantError(t, status, body, http.StatusForbidden, auditlog.EFORBIDDEN, "", -1)
		if n := e.count(t) - before; n != 0 {
			t.Errorf("a refused cross-site request recorded %d activities", n)
		}
		status, _, body = e.withCookie(t, "DELETE", "/api/v1/users/audrey", r.session.Value, "", h)
		wantError(t, status, body, http.StatusForbidden, auditlog.EFORBIDDEN, "", -1)
		// An export is a read that records itself: a link on another site
		// must not download the log as the admin and plant the record.
		for _, format := range []string{"csv", "jsonl", "bundle"} {
			status, _, body = e.withCookie(t, "GET", "/api/v1/activities/export."+format, r.session.Value, "", h)
			wantError(t, status, body, http.StatusForbidden, auditlog.EFORBIDDEN, "", -1)
			if n := e.count(t) - before; n != 0 {
				t.Errorf("a refused cross-site export recorded %d activities", n)
			}
		}
		// A cross-site login (login CSRF) is refused too.
		lr := e.login(t, "audrey", testPassword, "", nil, h)
		wantError(t, lr.status, lr.body, http.StatusForbidden, auditlog.EFORBIDDEN, "", -1)
		// A bearer token is never sent by a browser on its own: unaffected.
		req := e.request(t, "POST", "/api/v1/activities", machineActivity)
		req.Header.Set("Authorization", "Bearer "+e.full)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if status, _, body := e.send(t, req); status != http.StatusCreated {
			t.Errorf("a bearer request with %v: %d %s", h, status, body)
		}
	}
	// Same-origin requests and reads pass.
	status, _, _ := e.withCookie(t, "POST", "/api/v1/activities", r.session.Value, machineActivity, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if status != http.StatusCreated {
		t.Errorf("a same-origin request: %d", status)
	}
	status, _, _ = e.withCookie(t, "GET", "/api/v1/activities", r.session.Value, "", map[string]string{"Sec-Fetch-Site": "cross-site"})
	if status != http.StatusOK {
		t.Errorf("a cross-site read: %d", status)
	}
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "same-origin"}, nil} {
		status, _, _ = e.withCookie(t, "GET", "/api/v1/activities/export.csv", r.session.Value, "", h)
		if status != http.StatusOK || newestActivity(t, e).SystemName != "DOWNLOAD_CSV" {
			t.Errorf("an export with %v: %d", h, status)
		}
	}
}

func TestClientAddressTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s := NewServer(Config{TrustedProxies: proxies, PasswordParams: testPasswordParams})
	cases := []struct {
		name, peer, forwarded, want string
	}{
		{"a direct client", "198.51.100.7:5000", "", "198.51.100.7"},
		{"a direct client that claims another address", "198.51.100.7:5000", "192.0.2.1", "198.51.100.7"},
		{"a client behind a trusted proxy", "10.0.0.2:443", "192.0.2.1", "192.0.2.1"},
		{"a spoofed hop before the real client", "10.0.0.2:443", "6.6.6.6, 192.0.2.1", "192.0.2.1"},
		{"two trusted proxies", "10.0.0.2:443", "192.0.2.1, 10.0.0.3", "192.0.2.1"},
		{"garbage in the header", "10.0.0.2:443", "not-an-address", "10.0.0.2"},
		{"an IPv6 client", "[2001:db8::1]:443", "192.0.2.1", "2001:db8::1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			if c.forwarded != "" {
				r.Header.Set("X-Forwarded-For", c.forwarded)
			}
			if got := s.clientAddress(r); got != c.want {
				t.Errorf("client address %q, want %q", got, c.want)
			}
		})
	}
}

// TestSecretsNeverLeak runs logins, token creations and resets, password
// changes and failures, then searches every log line, activity, CSV
// export and answer for the secrets involved.
func TestSecretsNeverLeak(t *testing.T) {
	var logs bytes.Buffer
	e := newAPIEnvWith(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var secrets []string
	var answers bytes.Buffer
	do := func(method, path, token, body string) []byte {
		t.Helper()
		status, _, resp := e.do(t, method, path, token, body)
		if status >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, status, resp)
		}
		answers.Write(resp)
		return resp
	}
	const newPassword = "a much longer and different passphrase"
	secrets = append(secrets, testPassword, newPassword, e.full)
	if _, err := e.db.Bootstrap(context.Background(), "unused-hash"); err != nil {
		t.Fatal(err)
	}
	do("POST", "/api/v1/users", e.full, `{"username":"audrey","group":"System Admin","password":"`+testPassword+`"}`)
	do("POST", "/api/v1/session", "", `{"username":"audrey","password":"wrong `+testPassword+`"}`)
	r := e.login(t, "audrey", testPassword, "", nil, nil)
	secrets = append(secrets, r.session.Value, r.device.Value)
	do("PATCH", "/api/v1/users/audrey", e.full, `{"password":"`+newPassword+`"}`)
	do("PATCH", "/api/v1/users/audrey", e.full, `{"password":"short"}`)
	var made tokenSecretJSON
	if err := json.Unmarshal(do("POST", "/api/v1/tokens", e.full, `{"name":"ci","scopes":["activities:write"]}`), &made); err != nil {
		t.Fatal(err)
	}
	var reset tokenSecretJSON
	if err := json.Unmarshal(do("POST", fmt.Sprintf("/api/v1/tokens/%d/reset", made.Token.ID), e.full, ""), &reset); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, made.Secret, reset.Secret)
	do("GET", "/api/v1/activities", made.Secret, "")                          // the reset token: refused
	do("GET", "/api/v1/activities", "alt_"+strings.Repeat("A", 43), "")       // unknown
	do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", made.Token.ID), e.full, "") // revoked
	do("GET", "/api/v1/tokens", e.full, "")
	// A stream's secret, given and generated, and a HEC token.
	given := auditlog.NewWebhookSecret()
	var hook, generated, hec struct{ Secret string }
	json.Unmarshal(do("POST", "/api/v1/streams", e.full, `{"name":"given","type":"webhook","url":"http://127.0.0.1:1/","secret":"`+given+`"}`), &hook)
	json.Unmarshal(do("POST", "/api/v1/streams", e.full, `{"name":"generated","type":"webhook","url":"http://127.0.0.1:1/"}`), &generated)
	json.Unmarshal(do("POST", "/api/v1/streams", e.full, `{"name":"hec","type":"splunk_hec","url":"http://127.0.0.1:1/","secret":"hec-token-0f9e8d7c"}`), &hec)
	if hook.Secret != given || !strings.HasPrefix(generated.Secret, "whsec_") {
		t.Fatalf("stream secrets answered: %q %q", hook.Secret, generated.Secret)
	}
	streamSecrets := []string{given, strings.TrimPrefix(given, "whsec_"), generated.Secret, strings.TrimPrefix(generated.Secret, "whsec_"), "hec-token-0f9e8d7c"}
	secrets = append(secrets, streamSecrets...)
	do("GET", "/api/v1/streams", e.full, "")
	do("POST", "/api/v1/streams/1/pause", e.full, "")
	do("GET", "/api/v1/users", e.full, "")
	do("GET", "/api/v1/sessions", e.full, "")
	csvExport := do("GET", "/api/v1/activities/export.csv", e.full, "")
	jsonlExport := do("GET", "/api/v1/activities/export.jsonl", e.full, "")

	hashes := []string{}
	for _, s := range secrets {
		hashes = append(hashes, auditlog.HashToken(s))
	}
	users, err := e.db.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		full, _ := e.db.FindUser(context.Background(), u.Username)
		hashes = append(hashes, full.PasswordHash)
	}
	places := map[string]string{"the logs": logs.String(), "the CSV export": string(csvExport), "the JSON Lines export": string(jsonlExport)}
	for name, text := range places {
		for _, s := range append(secrets, hashes...) {
			if strings.Contains(text, s) {
				t.Errorf("%s hold a secret or its hash (%.12s…)", name, s)
			}
		}
	}
	// Answers show each token secret once, where it was made, and nothing else.
	text := answers.String()
	for _, s := range append([]string{testPassword, newPassword, r.session.Value}, hashes...) {
		if strings.Contains(text, s) {
			t.Errorf("an answer holds a password, session or hash (%.12s…)", s)
		}
	}
	for _, secret := range []string{given, generated.Secret} {
		if n := strings.Count(text, strings.TrimPrefix(secret, "whsec_")); n != 1 {
			t.Errorf("a stream's secret appears %d times in answers, want once (its creation's)", n)
		}
	}
	if strings.Count(text, made.Secret) != 1 || strings.Count(text, reset.Secret) != 1 {
		t.Errorf("the token secrets appear %d and %d times in answers, want once each", strings.Count(text, made.Secret), strings.Count(text, reset.Secret))
	}
	if !strings.Contains(string(csvExport), "RESET_TOKEN") || !strings.Contains(string(csvExport), "LOGIN_FAILED") {
		t.Fatal("the export lacks the recorded actions that the search is about")
	}
}

// TestAdministrationIsRecordedAsItsActor checks that changes made through
// the API are recorded as the person (or machine account) who made them,
// with their client, and take effect at once.
func TestAdministrationIsRecordedAsItsActor(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	e.addUser(t, "sam", auditlog.SystemAdminGroup)
	sam := e.login(t, "sam", testPassword, "192.0.2.50", nil, nil).session.Value
	as := func(method, path, body string, want int) []byte {
		t.Helper()
		status, _, resp := e.withCookie(t, method, path, sam, body, map[string]string{"X-Forwarded-For": "192.0.2.50", "User-Agent": "Firefox 131"})
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, resp, want)
		}
		return resp
	}
	wantRecorded := func(system, objectName string, changes ...auditlog.Change) {
		t.Helper()
		a := newestActivity(t, e)
		extra := extraOf(t, a)
		if a.SystemName != system || a.Operator != auditlog.OperatorHuman || a.Username != "sam" || a.ObjectName != objectName {
			t.Fatalf("recorded %s by %s %q on %q, want %s by sam on %q", a.SystemName, a.Operator, a.Username, a.ObjectName, system, objectName)
		}
		if extra["client_address"] != "192.0.2.50" || extra["user_agent"] != "Firefox 131" || extra["session_id"] == "" {
			t.Errorf("%s: extra %v lacks the client", system, extra)
		}
		if changes != nil && fmt.Sprint(a.Changes) != fmt.Sprint(changes) {
			t.Errorf("%s: changes %v, want %v", system, a.Changes, changes)
		}
	}

	as("POST", "/api/v1/groups", `{"name":"Auditors","permissions":["activities:read","activities:read"]}`, http.StatusCreated)
	wantRecorded("CREATE_PERMISSION_GROUP", "Auditors", auditlog.Change{ColumnName: "name", NewValue: "Auditors"},
		auditlog.Change{ColumnName: "permissions", NewValue: "activities:read"})
	as("PATCH", "/api/v1/groups/Auditors", `{"permissions":["activities:read","activities:export"]}`, http.StatusOK)
	wantRecorded("EDIT_PERMISSION_GROUP", "Auditors", auditlog.Change{ColumnName: "permissions", OldValue: "activities:read", NewValue: "activities:export,activities:read"})
	as("POST", "/api/v1/users", `{"username":"audrey","group":"Auditors","password":"`+testPassword+`"}`, http.StatusCreated)
	wantRecorded("CREATE_USER", "audrey")

	// Audrey logs in and reads; a new password ends her session.
	audrey := e.login(t, "audrey", testPassword, "192.0.2.51", nil, nil).session.Value
	if status, _, _ := e.withCookie(t, "GET", "/api/v1/activities", audrey, "", nil); status != http.StatusOK {
		t.Fatalf("audrey reads: %d", status)
	}
	if status, _, _ := e.withCookie(t, "GET", "/api/v1/users", audrey, "", nil); status != http.StatusForbidden {
		t.Fatalf("audrey lists users: %d, want 403", status)
	}
	as("PATCH", "/api/v1/users/audrey", `{"password":"another long passphrase"}`, http.StatusOK)
	wantRecorded("EDIT_USER", "audrey", auditlog.Change{ColumnName: "password", OldValue: auditlog.Redacted, NewValue: auditlog.Redacted})
	if status, _, _ := e.withCookie(t, "GET", "/api/v1/activities", audrey, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("audrey's session after a new password: %d, want 401", status)
	}

	var made tokenSecretJSON
	if err := json.Unmarshal(as("POST", "/api/v1/tokens", `{"name":"billing","scopes":["activities:write"],"expires_in":3600}`, http.StatusCreated), &made); err != nil {
		t.Fatal(err)
	}
	wantRecorded("CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", "billing")
	if made.Token.State != "active" || made.Token.Expires == nil || !made.Token.Expires.Equal(e.clock.Now().Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("the new token %+v: want active, expiring in an hour", made.Token)
	}
	if status, _, _ := e.do(t, "POST", "/api/v1/activities", made.Secret, machineActivity); status != http.StatusCreated {
		t.Fatalf("the new token records: %d", status)
	}
	// A machine account's own actions are the machine's.
	if a := newestActivity(t, e); a.Operator != auditlog.OperatorMachine {
		t.Errorf("recorded through a machine token as %s", a.Operator)
	}
	as(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", made.Token.ID), "", http.StatusOK)
	wantRecorded("REVOKE_ACCESS_TOKEN", "billing")
	if status, _, _ := e.do(t, "POST", "/api/v1/activities", made.Secret, machineActivity); status != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", status)
	}
	status, _, body := e.withCookie(t, "PATCH", "/api/v1/groups/System%20Admin", sam, `{"permissions":["activities:read"]}`, nil)
	wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "permissions", -1)
	status, _, body = e.withCookie(t, "POST", "/api/v1/groups", sam, `{"name":"X","permissions":["root"]}`, nil)
	wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "permissions[0]", -1)
	status, _, body = e.withCookie(t, "PATCH", "/api/v1/users/audrey", sam, `{}`, nil)
	wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "body", -1)
	status, _, body = e.withCookie(t, "POST", "/api/v1/tokens", sam, `{"name":"x","scopes":["admin"],"expires_in":0}`, nil)
	wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "expires_in", -1)
}

func TestATokenBeyondItsUsersPermissionsIsRefused(t *testing.T) {
	e := newAPIEnv(t)
	if _, err := e.db.CreateGroup(context.Background(), setup, "Readers", []auditlog.Permission{auditlog.PermActivitiesRead}); err != nil {
		t.Fatal(err)
	}
	e.addUser(t, "rita", "Readers")
	before := newestActivity(t, e).ID
	status, _, body := e.do(t, "POST", "/api/v1/tokens", e.full, `{"name":"too much","user":"rita","scopes":["activities:read","activities:write"]}`)
	got := wantError(t, status, body, http.StatusBadRequest, auditlog.EINVALID, "scopes", -1)
	if !strings.Contains(got.Message, "activities:write") {
		t.Errorf("the refusal %q does not name the scope", got.Message)
	}
	if after := newestActivity(t, e).ID; after != before {
		t.Errorf("the refused token was recorded as activity %d", after)
	}
	if status, _, body := e.do(t, "POST", "/api/v1/tokens", e.full, `{"name":"enough","user":"rita","scopes":["activities:read"]}`); status != http.StatusCreated {
		t.Fatalf("a token within the user's permissions: %d %s", status, body)
	}
}

// TestParallelFailedLoginsSpendTheBudgetOnce races 40 wrong-password
// logins from one address at one account: the budget is reserved before
// each password is checked, so no more of them than the account's budget
// are checked, and the rest are throttled.
func TestParallelFailedLoginsSpendTheBudgetOnce(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	var checked atomic.Int64
	verify := e.server.verifyPassword
	e.server.verifyPassword = func(pw, hash string) (bool, error) { checked.Add(1); return verify(pw, hash) }
	const attempts = 40
	statuses := make(chan int, attempts)
	var wg sync.WaitGroup
	for range attempts {
		wg.Go(func() {
			statuses <- e.login(t, "audrey", "a wrong guess", "198.51.100.7", nil, nil).status
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	budget := DefaultLoginLimits.PerAccount.Burst
	if counts[http.StatusUnauthorized] != budget || counts[http.StatusTooManyRequests] != attempts-budget || checked.Load() != int64(budget) {
		t.Fatalf("40 parallel wrong logins: %v and %d passwords checked; want %d answered 401 (the account's budget), the rest 429", counts, checked.Load(), budget)
	}
	// The real user, from another address, is throttled too (the account's
	// budget is spent), but a known device would not be: see
	// TestFailedLoginsAreThrottledWithoutLockingTheUserOut.
}

// TestPasswordChecksRunABoundedNumberAtOnce holds every password check
// slot and expects a login to be turned away with Retry-After, its
// budget untouched.
func TestPasswordChecksRunABoundedNumberAtOnce(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.TrustedProxies = loopback })
	e.addUser(t, "audrey", auditlog.SystemAdminGroup)
	for range cap(e.server.hashing) {
		e.server.hashing <- struct{}{}
	}
	r := e.login(t, "audrey", testPassword, "198.51.100.8", nil, nil)
	wantError(t, r.status, r.body, http.StatusServiceUnavailable, auditlog.EUNAVAILABLE, "", -1)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a login turned away")
	}
	for range cap(e.server.hashing) {
		<-e.server.hashing
	}
	for range DefaultLoginLimits.PerAccount.Burst {
		if r := e.login(t, "audrey", testPassword, "198.51.100.8", nil, nil); r.status != http.StatusCreated {
			t.Fatalf("a login once the checks are free: %d %s", r.status, r.body)
		}
	}
}
