package http

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/password"
)

// BenchmarkFailedLogin measures a failed login at production password
// costs for a wrong password and for a username that names no one: the two
// must cost the same, so that timing does not tell which usernames exist
// (docs/performance.md has the figures).
func BenchmarkFailedLogin(b *testing.B) {
	db := loginStore(b, password.Default)
	unlimited := LoginLimit{Burst: 1 << 30, Every: time.Nanosecond}
	srv := NewServer(Config{Store: db, LoginLimits: LoginLimits{unlimited, unlimited, unlimited}})
	for _, c := range []struct{ name, body string }{
		{"wrong password", `{"username":"audrey","password":"not the password"}`},
		{"unknown user", `{"username":"nobody","password":"not the password"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/v1/session", strings.NewReader(c.body))
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusUnauthorized {
					b.Fatalf("answered %d", rec.Code)
				}
			}
		})
	}
}
