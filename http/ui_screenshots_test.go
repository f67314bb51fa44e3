//go:build screenshots

package http

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
	"github.com/auditlog/auditlog/password"
)

// TestScreenshots takes the README's screenshots of the main views on demo
// data into docs/screenshots (or the directory AUDITLOG_SCREENSHOTS names):
//
//	go test -tags screenshots ./http/ -run TestScreenshots
//
// It is a tool rather than a test, built only with the screenshots tag.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("AUDITLOG_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	e := newAPIEnv(t)
	ctx := context.Background()
	// Fourteen days of demo activities, busier on working days and hours
	// (created never decreases: the users and tokens come after them).
	gen := demo.New(7, catalog.Builtin())
	end := apiBase.Add(14 * 24 * time.Hour)
	for at := apiBase; at.Before(end); at = at.Add(20 * time.Minute) {
		n := 2
		if h := at.Hour(); h >= 8 && h < 18 {
			n = 14 + at.Minute()%7
		}
		if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday {
			n /= 3
		}
		batch := make([]auditlog.NewActivity, n+1)
		for i := range batch {
			batch[i] = gen.Next()
		}
		e.clock.Set(at)
		if _, err := e.db.RecordActivities(ctx, auditlog.TokenRecorder(1), batch); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(end)
	if _, err := e.db.Bootstrap(ctx, password.Hash(uiPassword, testPasswordParams)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateGroup(ctx, setup, "Auditors", []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesExport}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"audrey.smith", "mallory.garcia"} {
		if _, err := e.db.CreateUser(ctx, setup, u, "Auditors", "unused-hash"); err != nil {
			t.Fatal(err)
		}
	}
	e.token(t, auditlog.NewToken{Name: "billing-app", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite}})
	e.token(t, auditlog.NewToken{Name: "nightly-export", Scopes: []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesExport},
		Expires: end.Add(90 * 24 * time.Hour)})

	e.session(t, "audrey.smith")
	e.publish(t)

	b := newBrowser(t, e.srv.URL)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.do(chromedp.EmulateViewport(1280, 860))
	b.open("/")
	b.waitFor(`document.cookie.includes("tz=")`)
	b.open("/")
	shot("login")
	b.login(auditlog.AdminUsername, uiPassword)
	shot("audit-log")
	b.open("/admin/audit-log?activity=USER_LOGIN&activity=LOGIN_FAILED&operator=human&created_from=2026-11-24&created_to=2026-11-26&tz=" + browserZone)
	shot("audit-log-filtered")
	acts, _, err := e.db.FindActivities(ctx, auditlog.Filter{Activities: []string{"EDIT_PERMISSION_GROUP"}, Limit: 1})
	if err != nil || len(acts) == 0 {
		t.Fatalf("no activity to show: %v", err)
	}
	b.open("/admin/audit-log/" + strconv.FormatInt(acts[0].ID, 10))
	shot("activity")
	for _, tab := range []string{"users", "groups", "tokens", "sessions"} {
		b.open("/admin/" + tab)
		shot(tab)
	}
}
