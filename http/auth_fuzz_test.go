package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/password"
	"github.com/auditlog/auditlog/sqlite"
)

// FuzzLogin sends arbitrary login bodies and device cookies to a server on a
// real store: every answer is one the contract allows, none is a 500, a
// session is opened only for the right password, and no answer repeats
// the password it was sent.
func FuzzLogin(f *testing.F) {
	for _, body := range []string{
		`{"username":"audrey","password":"` + testPassword + `"}`,
		`{"username":"audrey","password":"wrong"}`,
		`{"username":"AUDREY","password":"` + testPassword + `"}`,
		`{"username":"nobody","password":"x"}`,
		`{"username":"","password":""}`, `{"username":"audrey"}`, `{"password":"x"}`,
		`{"username":"audrey","password":"x","extra":1}`, `{"username":5}`, `[]`, `null`, ``, `{`,
		`{"username":"a\u0000b","password":"x"}`, `{"username":"audrey","password":"x"} {}`,
	} {
		f.Add(body, "")
	}
	f.Add(`{"username":"audrey","password":"x"}`, "YXVkcmV5.9999999999.c2ln")
	f.Add(`{"username":"audrey","password":"x"}`, "...")

	db := loginStore(f, testPasswordParams)
	// Generous budgets: the fuzzer is one client that fails a lot.
	lots := LoginLimit{Burst: 1 << 30, Every: time.Nanosecond}
	srv := NewServer(Config{Store: db, PasswordParams: testPasswordParams, LoginLimits: LoginLimits{lots, lots, lots}})

	f.Fuzz(func(t *testing.T, body, device string) {
		req := httptest.NewRequest("POST", "/api/v1/session", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if device != "" {
			req.AddCookie(&http.Cookie{Name: DeviceCookie, Value: sanitizeCookie(device)})
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var in loginRequest
		_ = json.Unmarshal([]byte(body), &in)
		switch rec.Code {
		case http.StatusCreated:
			if !strings.EqualFold(in.Username, "audrey") || in.Password != testPassword {
				t.Fatalf("a session for %q with password %q", in.Username, in.Password)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("answered %d %s", rec.Code, rec.Body)
		}
		// (A password as long as a real one that is not part of the one
		// fixed answer to a failed login.)
		if len(in.Password) >= password.MinLength && !strings.Contains("wrong username or password", in.Password) &&
			strings.Contains(rec.Body.String(), in.Password) {
			t.Fatalf("the answer repeats the password: %s", rec.Body)
		}
	})
}

// loginStore is a store with the admin and the user audrey, whose password
// is testPassword, hashed at the given costs.
func loginStore(tb testing.TB, params password.Params) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: tb.TempDir(), Builtin: catalog.Builtin()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.Bootstrap(ctx, password.Hash(password.Generate(), params)); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, setup, "audrey", auditlog.SystemAdminGroup, password.Hash(testPassword, params)); err != nil {
		tb.Fatal(err)
	}
	return db
}

// sanitizeCookie keeps what a client can send as a cookie value.
func sanitizeCookie(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '"' || r == ';' || r == ',' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// FuzzBearerHeader checks the Authorization header parser: it never
// panics, and a token it accepts is the trimmed, non-empty rest of a
// Bearer header.
func FuzzBearerHeader(f *testing.F) {
	for _, h := range []string{"Bearer alt_abc", "bearer  alt_abc ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "alt_abc", "", " Bearer x", "Bearer\talt"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := parseBearer(header)
		if err != nil {
			if auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED || token != "" {
				t.Fatalf("%q: token %q, err %v", header, token, err)
			}
			return
		}
		scheme, rest, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" || token != strings.TrimSpace(rest) {
			t.Fatalf("%q accepted as token %q", header, token)
		}
	})
}

// FuzzDeviceCookie checks that no cookie but the one the throttle signed
// for an account passes as that account's known device.
func FuzzDeviceCookie(f *testing.F) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	th := newLoginThrottle(DefaultLoginLimits, []byte("a fixed key for the fuzz target"), func() time.Time { return now })
	signed := th.deviceCookie("audrey")
	f.Add(signed, "audrey")
	f.Add(signed, "Audrey")
	f.Add(signed, "bob")
	f.Add(signed+"x", "audrey")
	f.Add("a.b.c", "audrey")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cookie, username string) {
		known := th.knownDevice(cookie, username)
		if known && (cookie != signed || !strings.EqualFold(username, "audrey")) {
			t.Fatalf("cookie %q passes for %q", cookie, username)
		}
		if cookie == signed && strings.EqualFold(username, "audrey") && !known {
			t.Fatal("the signed cookie does not pass for its own account")
		}
	})
}
