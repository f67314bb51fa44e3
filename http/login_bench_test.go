package http

import (
	"context"
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

// BenchmarkFailedLogin measures a failed login at production password
// costs for a wrong password and for a username that names no one: the two
// must cost the same, so that timing does not tell which usernames exist
// (docs/performance.md has the figures).
func BenchmarkFailedLogin(b *testing.B) {
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: b.TempDir(), Builtin: catalog.Builtin()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Bootstrap(ctx, password.Hash(password.Generate(), password.Default)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, setup, "audrey", auditlog.SystemAdminGroup, password.Hash(testPassword, password.Default)); err != nil {
		b.Fatal(err)
	}
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
