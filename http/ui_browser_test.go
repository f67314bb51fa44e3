package http

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// These tests drive the web UI in headless Chromium (Debian's chromium)
// against a real server on a real SQLite store.

// browserTimeout bounds one browser test.
const browserTimeout = 2 * time.Minute

// browserZone is the browser's time zone: not the server's UTC, so that
// the tests see times shown in the viewer's zone.
const browserZone = "Europe/Berlin"

// uiBrowser is a headless Chromium tab, driven for the test t.
type uiBrowser struct {
	t   *testing.T
	ctx context.Context
	// base is the server's URL.
	base string
	// downloads is where the browser saves downloads.
	downloads string
	dialogs   *dialogLog
}

// dialogLog records the dialogs that pages opened.
type dialogLog struct {
	mu       sync.Mutex
	messages []string
}

// with is b driven for the subtest t.
func (b *uiBrowser) with(t *testing.T) *uiBrowser {
	c := *b
	c.t = t
	return &c
}

// newBrowser starts Chromium for t. Without Chromium the test is skipped,
// except in CI (CI set), where it fails.
func newBrowser(t *testing.T, base string) *uiBrowser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v", err)
		}
		t.Skip("chromium is not installed (apt-get install chromium); CI fails instead")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Env("TZ=" + browserZone),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancelTimeout() })
	b := &uiBrowser{t: t, ctx: bctx, base: base, downloads: t.TempDir(), dialogs: &dialogLog{}}
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// An attacker's text that ran as script would open a dialog: every
	// dialog is recorded (and dismissed) and fails the test at its end.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs.mu.Lock()
			b.dialogs.messages = append(b.dialogs.messages, ev.Message)
			b.dialogs.mu.Unlock()
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	t.Cleanup(func() {
		b.dialogs.mu.Lock()
		defer b.dialogs.mu.Unlock()
		if len(b.dialogs.messages) > 0 {
			t.Errorf("the page opened dialogs (script ran): %q", b.dialogs.messages)
		}
	})
	yes := true
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.downloads, EventsEnabled: &yes,
	}); err != nil {
		t.Fatalf("download behaviour: %v", err)
	}
	return b
}

// do runs steps, failing the test on an error.
func (b *uiBrowser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// follow runs steps that navigate and returns the new page's status.
func (b *uiBrowser) follow(steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.Status
}

// open navigates to the server's path and returns the status.
func (b *uiBrowser) open(path string) int64 {
	b.t.Helper()
	return b.follow(chromedp.Navigate(b.base + path))
}

// history goes back or forward in the tab's history (as the browser's
// buttons do, which may restore the page from its cache without loading
// it) and waits until the page at want is shown.
func (b *uiBrowser) history(direction, want string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`history.` + direction + `()`))
	b.waitFor(fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, want))
}

// waitFor evaluates js until it is true, across navigations, for at most
// ten seconds.
func (b *uiBrowser) waitFor(js string) {
	b.t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
	}
	b.t.Fatalf("waiting for %s: %v", js, err)
}

// text is the text of the first element sel selects; it waits ten seconds
// at most for one to appear.
func (b *uiBrowser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](b *uiBrowser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// location is the page's URL, parsed.
func (b *uiBrowser) location() *url.URL {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// login opens the login page and logs in. The first visit lets the page's
// script store the browser's time zone in its cookie.
func (b *uiBrowser) login(username, pw string) {
	b.t.Helper()
	b.open("/")
	b.waitFor(`document.cookie.includes("tz=")`)
	b.open("/")
	b.do(chromedp.SendKeys(chromedp.ID("username"), username), chromedp.SendKeys(chromedp.ID("password"), pw))
	if status := b.follow(chromedp.Click(chromedp.CSS(`.login button[type=submit]`))); status != 200 {
		b.t.Fatalf("logging in as %s: status %d", username, status)
	}
}

// tableIDs reads the Activity ID column of the audit log's table.
func (b *uiBrowser) tableIDs() []int64 {
	b.t.Helper()
	cells := eval[[]string](b, `Array.from(document.querySelectorAll("table.activities tbody tr td:first-child")).map(td => td.textContent.trim())`)
	ids := make([]int64, len(cells))
	for i, c := range cells {
		id, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			b.t.Fatalf("activity id cell %q: %v", c, err)
		}
		ids[i] = id
	}
	return ids
}

// download clicks the link and returns the downloaded file.
func (b *uiBrowser) download(sel string) []byte {
	b.t.Helper()
	progress := chromedp.BrowserEvents(b.ctx, browser.DownloadProgress)
	b.do(chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("waiting for the download: %v", err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(b.downloads, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			b.t.Fatal("the download was cancelled")
		}
	}
	return nil
}

const uiPassword = "correct horse battery staple"

// xss is attacker-controlled text that must show as text.
const xss = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// newUIEnv is a server with the admin user, a user who may only record,
// one who may only read, and activities over five days; it returns the id
// of an activity whose text is an attacker's markup.
func newUIEnv(t *testing.T) (e *apiEnv, xssID int64) {
	t.Helper()
	e = newAPIEnv(t)
	ctx := context.Background()
	hash := password.Hash(uiPassword, testPasswordParams)
	if _, err := e.db.Bootstrap(ctx, hash); err != nil {
		t.Fatal(err)
	}
	// rita may only record; audrey may only read.
	for _, m := range []struct {
		user, group string
		perm        auditlog.Permission
	}{{"rita", "Recorders", auditlog.PermActivitiesWrite}, {"audrey", "Auditors", auditlog.PermActivitiesRead}} {
		if _, err := e.db.CreateGroup(ctx, setup, m.group, []auditlog.Permission{m.perm}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.CreateUser(ctx, setup, m.user, m.group, hash); err != nil {
			t.Fatal(err)
		}
	}
	types := []string{"USER_LOGIN", "EDIT_USER", "LOGIN_FAILED", "CREATE_USER", "DOWNLOAD_CSV"}
	users := []string{"alice", "bob", "carol"}
	for i := range 150 {
		e.clock.Set(apiBase.Add(time.Duration(i) * 47 * time.Minute))
		a := auditlog.NewActivity{SystemName: types[i%len(types)], Operator: auditlog.OperatorHuman, Username: users[i%len(users)],
			ObjectType: "User", ObjectID: strconv.Itoa(i % 9), ObjectName: "user " + strconv.Itoa(i%9),
			Extra:   []byte(`{"browser":"Firefox 131","step":` + strconv.Itoa(i) + `}`),
			Changes: []auditlog.Change{{ColumnName: "email", OldValue: "old@example.com", NewValue: "new@example.com"}}}
		if i%4 == 0 {
			a.Operator, a.Username = auditlog.OperatorMachine, ""
		}
		if _, err := e.db.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{a}); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := e.db.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorHuman,
		Username: xss, ObjectType: "User", ObjectName: xss, Extra: []byte(`{"note":"` + strings.ReplaceAll(xss, `"`, `\"`) + `"}`),
		Changes: []auditlog.Change{{ColumnName: xss, OldValue: xss, NewValue: xss}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t)
	return e, ids[0]
}

// expectedIDs is what the store selects for the audit log page's URL.
func expectedIDs(t *testing.T, e *apiEnv, u *url.URL) []int64 {
	t.Helper()
	q := u.Query()
	f, err := auditlog.ParseFilter(q, auditLogParams...)
	if err != nil {
		t.Fatalf("the page's URL %s: %v", u, err)
	}
	acts, _, err := e.db.FindActivities(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return idsOf(acts)
}

func idsOf(acts []auditlog.Activity) []int64 {
	ids := make([]int64, len(acts))
	for i, a := range acts {
		ids[i] = a.ID
	}
	return ids
}

func TestBrowserAuditLog(t *testing.T) {
	e, xssID := newUIEnv(t)
	b := newBrowser(t, e.srv.URL)
	b.login(auditlog.AdminUsername, uiPassword)

	if got := b.location().Path; got != "/admin/audit-log" {
		t.Fatalf("after login at %s, want /admin/audit-log", got)
	}
	if got := b.text("nav.tabs a[aria-current]"); got != "Audit Log" {
		t.Errorf("current tab %q, want Audit Log", got)
	}
	if got := b.text("header.top nav a"); got != "Administration" {
		t.Errorf("navigation %q, want Administration", got)
	}
	head := eval[[]string](b, `Array.from(document.querySelectorAll("table.activities thead th")).map(th => th.textContent.trim())`)
	if !slices.Equal(head, []string{"Activity ID", "Created (" + browserZone + ")", "Activity name", "Username"}) {
		t.Errorf("table columns %q", head)
	}
	all := expectedIDs(t, e, &url.URL{})
	if got := b.tableIDs(); !slices.Equal(got, all[:50]) {
		t.Fatalf("first page %v, want %v", got, all[:50])
	}
	if got := b.text(".position"); got != fmt.Sprintf("Showing 1–50 of %d", len(all)) {
		t.Errorf("position %q", got)
	}
	if got := b.text("a.download"); got != "Download all activities" {
		t.Errorf("download link %q, want Download all activities", got)
	}

	t.Run("times are shown in the browser's zone", func(t *testing.T) {
		b := b.with(t)
		a, err := e.db.FindActivityByID(context.Background(), all[0])
		if err != nil {
			t.Fatal(err)
		}
		berlin, _ := time.LoadLocation(browserZone)
		want := a.Created.In(berlin).Format("2006-01-02 15:04:05.000 MST")
		if got := b.text("table.activities tbody tr:first-child time"); got != want {
			t.Errorf("created %q, want %q", got, want)
		}
	})

	t.Run("attacker text renders as text", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log?" + url.Values{"username": {xss}}.Encode())
		if got := b.text("table.activities tbody tr:first-child td:last-child"); got != xss {
			t.Errorf("username cell %q, want the literal %q", got, xss)
		}
		if n := eval[int](b, `document.querySelectorAll("main script, main img").length`); n != 0 {
			t.Errorf("%d script or img elements in the page's content", n)
		}
	})

	t.Run("paging", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log?limit=25")
		if got := b.tableIDs(); !slices.Equal(got, all[:25]) {
			t.Fatalf("page 1 %v, want %v", got, all[:25])
		}
		page1 := b.location().String()
		b.follow(chromedp.Click(chromedp.CSS(`a[rel=next]`)))
		page2 := b.location().String()
		if got := b.tableIDs(); !slices.Equal(got, all[25:50]) {
			t.Fatalf("page 2 %v, want %v", got, all[25:50])
		}
		if got := b.text(".position"); got != fmt.Sprintf("Showing 26–50 of %d", len(all)) {
			t.Errorf("position %q", got)
		}
		b.history("back", page1)
		if got := b.tableIDs(); !slices.Equal(got, all[:25]) {
			t.Fatalf("back on page 1 %v, want %v", got, all[:25])
		}
		b.history("forward", page2)
		if got := b.tableIDs(); !slices.Equal(got, all[25:50]) {
			t.Fatalf("forward on page 2 %v, want %v", got, all[25:50])
		}
	})

	t.Run("filters combine, live in the URL and select what the API selects", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log")
		b.do(chromedp.Click(chromedp.CSS("details.filters summary")),
			chromedp.SendKeys(chromedp.ID("activity-search"), "user"))
		visible := eval[[]string](b, `Array.from(document.querySelectorAll("#activity li")).filter(li => !li.hidden).map(li => li.querySelector("input").value)`)
		if !slices.Contains(visible, "EDIT_USER") || !slices.Contains(visible, "CREATE_USER") || slices.Contains(visible, "DOWNLOAD_CSV") {
			t.Errorf("typing 'user' leaves %d names: %v", len(visible), visible)
		}
		// Several names are ticked by plain clicks, no modifier key; the
		// search narrows the list between them.
		b.do(chromedp.Click(chromedp.CSS(`input[name=activity][value=EDIT_USER]`)),
			chromedp.Click(chromedp.CSS(`input[name=activity][value=CREATE_USER]`)),
			chromedp.Evaluate[chromedp.Void](`(s => { s.value = ""; s.dispatchEvent(new Event("input")) })(document.getElementById("activity-search"))`),
			chromedp.SendKeys(chromedp.ID("activity-search"), "login"),
			chromedp.Click(chromedp.CSS(`input[name=activity][value=USER_LOGIN]`)),
			chromedp.Click(chromedp.CSS(`input[name=operator][value=human]`)),
			chromedp.SendKeys(chromedp.ID("username-0"), "alice"),
			chromedp.SendKeys(chromedp.ID("created_from"), "2026-11-21"),
			chromedp.SendKeys(chromedp.ID("created_to"), "2026-11-23"))
		b.follow(chromedp.Click(chromedp.CSS(`.actions button[type=submit]`)))
		u := b.location()
		q := u.Query()
		if !slices.Equal(q["activity"], []string{"USER_LOGIN", "EDIT_USER", "CREATE_USER"}) && len(q["activity"]) != 3 {
			t.Errorf("activity parameters %q", q["activity"])
		}
		for name, want := range map[string]string{"operator": "human", "username": "alice", "created_from": "2026-11-21", "created_to": "2026-11-23", "tz": browserZone} {
			if got := q.Get(name); got != want {
				t.Errorf("URL parameter %s=%q, want %q (URL %s)", name, got, want, u)
			}
		}
		if q.Has("id") || q.Has("created_on") {
			t.Errorf("empty fields are in the URL: %s", u)
		}
		// The three date fields take text the same way: a date, or a time.
		kinds := eval[[]string](b, `["created_on", "created_from", "created_to"].map(id => { const f = document.getElementById(id); return f.type + " " + f.placeholder })`)
		if !slices.Equal(kinds, []string{"text YYYY-MM-DD", "text YYYY-MM-DD", "text YYYY-MM-DD"}) {
			t.Errorf("the date created fields differ: %q", kinds)
		}
		want := expectedIDs(t, e, u)
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("the filter selects %d of %d activities: a useless test", len(want), len(all))
		}
		if got := b.tableIDs(); !slices.Equal(got, want) {
			t.Fatalf("filtered table %v, want %v", got, want)
		}
		if got := b.text("a.download"); got != "Download filtered activities" {
			t.Errorf("download link %q, want Download filtered activities", got)
		}

		t.Run("the download holds exactly the filtered activities", func(t *testing.T) {
			b := b.with(t)
			records, err := csv.NewReader(strings.NewReader(string(b.download("a.download")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, rec := range records[1:] {
				id, _ := strconv.ParseInt(rec[0], 10, 64)
				got = append(got, id)
			}
			if records[0][0] != "Activity ID" || !slices.Equal(got, want) {
				t.Fatalf("CSV header %q, ids %v, want %v", records[0], got, want)
			}
		})

		t.Run("reload keeps the filters", func(t *testing.T) {
			b := b.with(t)
			b.follow(chromedp.Reload())
			if got := b.tableIDs(); !slices.Equal(got, want) {
				t.Fatalf("after reload %v, want %v", got, want)
			}
		})
	})

	t.Run("the search box keeps its expression in the URL and combines with the filters", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log?username=alice")
		if open := eval[bool](b, `document.querySelector("details.filters").open`); !open {
			t.Error("the filter panel is closed though a username filters the page")
		}
		expr := `"user 3" -activity:USER_LOGIN`
		b.do(chromedp.SendKeys(chromedp.ID("q"), expr))
		b.follow(chromedp.Click(chromedp.CSS(`.search-line button[type=submit]`)))
		u := b.location()
		if got := u.Query().Get("q"); got != expr {
			t.Fatalf("q=%q in %s, want %q", got, u, expr)
		}
		if got := u.Query().Get("username"); got != "alice" {
			t.Errorf("the search dropped the username filter: %s", u)
		}
		search, err := auditlog.ParseSearch(expr, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, id := range all {
			a, err := e.db.FindActivityByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Username == "alice" && a.SystemName != "USER_LOGIN" && search.Matches(a) {
				want = append(want, id)
			}
		}
		if len(want) == 0 {
			t.Fatal("the search selects nothing: a useless test")
		}
		if got := b.tableIDs(); !slices.Equal(got, want) {
			t.Fatalf("searched table %v, want %v", got, want)
		}
		if got := b.text("a.download"); got != "Download filtered activities" {
			t.Errorf("download link %q", got)
		}
		if href := eval[string](b, `document.querySelector("a.download").href`); !strings.Contains(href, "q="+url.QueryEscape(expr)) {
			t.Errorf("the download %s does not carry the search", href)
		}

		b.open("/admin/audit-log?q=firefox")
		if open := eval[bool](b, `document.querySelector("details.filters").open`); open {
			t.Error("the filter panel opened for a search alone")
		}
		b.do(chromedp.SetValue(chromedp.ID("q"), "firefox colour:red"))
		b.follow(chromedp.Click(chromedp.CSS(`.search-line button[type=submit]`)))
		if got := b.text("#q-error"); !strings.Contains(got, `"colour:red"`) {
			t.Errorf("the error next to the box says %q", got)
		}
		if got := b.text(".position"); got != "Correct the search above: nothing was looked up" {
			t.Errorf("position %q", got)
		}
		if got := eval[string](b, `document.getElementById("q").value`); got != "firefox colour:red" {
			t.Errorf("the box lost the expression: %q", got)
		}
	})

	t.Run("pick a date", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log")
		b.do(chromedp.Click(chromedp.CSS("details.filters summary")),
			chromedp.SetValue(chromedp.ID("created_on"), "2026-11-21"))
		b.follow(chromedp.Click(chromedp.CSS(`.actions button[type=submit]`)))
		u := b.location()
		if got := u.Query().Get("created_on"); got != "2026-11-21" {
			t.Fatalf("created_on=%q in %s", got, u)
		}
		want := expectedIDs(t, e, u)
		if got := b.tableIDs(); len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("the day's table %v, want %v", got, want)
		}
	})

	t.Run("a histogram bar narrows the dates to it", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log")
		bars := eval[int](b, `document.querySelectorAll("figure.histogram svg a").length`)
		if bars < 2 {
			t.Fatalf("%d bars", bars)
		}
		b.follow(chromedp.Click(chromedp.CSS(`figure.histogram svg a rect.hit`)))
		u := b.location()
		if !u.Query().Has("created_from") || !u.Query().Has("created_to") {
			t.Fatalf("the bar led to %s", u)
		}
		want := expectedIDs(t, e, u)
		if got := b.tableIDs(); len(want) == 0 || !slices.Equal(got, want[:min(len(want), 50)]) {
			t.Fatalf("narrowed table %v, want %v", got, want)
		}
		if got := b.text(".position"); !strings.HasSuffix(got, fmt.Sprintf(" of %d", len(want))) {
			t.Errorf("position %q, want a total of %d", got, len(want))
		}
	})

	t.Run("an activity's detail", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log?activity=CREATE_USER&operator=human&limit=25")
		id := b.tableIDs()[1]
		b.follow(chromedp.Click(chromedp.CSS(`table.activities tbody tr:nth-child(2) td:first-child a`)))
		if got := b.location().Path; got != "/admin/audit-log/"+strconv.FormatInt(id, 10) {
			t.Fatalf("detail at %s", got)
		}
		a, err := e.db.FindActivityByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		labels := eval[[]string](b, `Array.from(document.querySelectorAll("dl.fields dt")).map(dt => dt.textContent)`)
		for _, l := range []string{"Activity ID", "Activity Created", "Operator", "Username", "Activity Display Name", "Activity System Name",
			"Activity Subtype Display Name", "Activity Subtype System Name", "Extra", "Object ID", "Object Type", "Object Name", "Recorded By"} {
			if !slices.Contains(labels, l) {
				t.Errorf("no field %q in %q", l, labels)
			}
		}
		recordedBy := eval[string](b, `Array.from(document.querySelectorAll("dl.fields dt")).find(dt => dt.textContent == "Recorded By").nextElementSibling.textContent`)
		if a.RecordedBy == "" || recordedBy != string(a.RecordedBy) {
			t.Errorf("Recorded By shows %q, want %q", recordedBy, a.RecordedBy)
		}
		if got := b.text("pre.extra"); !strings.Contains(got, "\n  \"browser\": \"Firefox 131\"") {
			t.Errorf("extra not formatted: %q", got)
		}
		changes := eval[[]string](b, `Array.from(document.querySelectorAll("table.changes th, table.changes td")).map(c => c.textContent)`)
		if !slices.Equal(changes, []string{"Column Name", "Old Value", "New Value", "email", "old@example.com", "new@example.com"}) {
			t.Errorf("changes table %q", changes)
		}
		if got := b.text("dd .included"); got != "Included" {
			t.Errorf("checkpoint %q", got)
		}
		if !strings.Contains(b.text("main"), a.SystemName) {
			t.Errorf("the page lacks the system name %s", a.SystemName)
		}
		b.follow(chromedp.Click(chromedp.CSS(`.back a`)))
		if got := b.location().Query(); got.Get("activity") != "CREATE_USER" || got.Get("operator") != "human" || got.Get("limit") != "25" {
			t.Errorf("the way back lost the filters: %v", got)
		}

		b.open("/admin/audit-log/" + strconv.FormatInt(xssID, 10))
		for _, sel := range []string{"dl.fields dd:nth-of-type(4)", "dl.fields dd:nth-of-type(12)", "table.changes td"} {
			if got := b.text(sel); got != xss {
				t.Errorf("%s shows %q, want the literal %q", sel, got, xss)
			}
		}
	})

	t.Run("the keyboard reaches the search box, the filters, a bar and an activity", func(t *testing.T) {
		b := b.with(t)
		b.open("/admin/audit-log")
		b.do(chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.textContent`); got != "Skip to content" {
			t.Errorf("the first Tab reaches %q, want the skip link", got)
		}
		// Tab on through the page, noting what takes the focus, and check
		// that each has a visible outline.
		var reached []string
		for range 18 {
			b.do(chromedp.KeyEvent("\t"))
			reached = append(reached, eval[string](b, `(e => e.tagName + (e.closest("svg") ? " in svg" : "") + ":" + (e.textContent || e.value || "").trim().slice(0, 30))(document.activeElement)`))
			if outline := eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" && !strings.Contains(reached[len(reached)-1], "svg") {
				t.Errorf("%s has no visible focus outline", reached[len(reached)-1])
			}
		}
		joined := strings.Join(reached, " | ")
		for _, want := range []string{"INPUT:", "BUTTON:Search", "SUMMARY:Filters", "A:Download all activities"} {
			if !strings.Contains(joined, want) {
				t.Errorf("Tab does not reach %q: %s", want, joined)
			}
		}
		if !strings.Contains(joined, " in svg") {
			t.Errorf("Tab does not reach a histogram bar: %s", joined)
		}
		b.do(chromedp.Focus(chromedp.CSS(`table.activities tbody tr:first-child td:first-child a`)))
		b.follow(chromedp.KeyEvent("\r"))
		if got := b.location().Path; !strings.HasPrefix(got, "/admin/audit-log/") {
			t.Errorf("Enter on an activity ID led to %s", got)
		}
	})

	t.Run("log out", func(t *testing.T) {
		b := b.with(t)
		b.follow(chromedp.Click(chromedp.CSS(`form.logout button`)))
		if got := b.location().Path; got != "/" {
			t.Errorf("after logout at %s", got)
		}
		if status := b.open("/admin/audit-log"); status != 401 {
			t.Errorf("the audit log after logout answered %d, want 401 with the login form", status)
		}
		if n := eval[int](b, `document.querySelectorAll("#password").length`); n != 1 {
			t.Error("no login form after logout")
		}
	})
}

func TestBrowserRefusesUsersWithoutTheAuditLog(t *testing.T) {
	e, _ := newUIEnv(t)
	b := newBrowser(t, e.srv.URL)
	b.login("rita", uiPassword)
	if got := b.location().Path; got != "/admin" {
		t.Fatalf("rita landed on %s", got)
	}
	if got := b.text("p.error"); !strings.Contains(got, "grants none of the Administration pages") {
		t.Errorf("message %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll("nav.tabs a").length`); n != 0 {
		t.Errorf("%d tabs shown to a user without access", n)
	}
	if status := b.open("/admin/audit-log"); status != 403 {
		t.Errorf("the audit log answered %d, want 403", status)
	}
	if got := b.text("p.error"); got != "this requires the activities:read permission" {
		t.Errorf("refusal %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll("table.activities").length`); n != 0 {
		t.Error("the refused page shows activities")
	}
	if status := b.open("/admin/users"); status != 403 {
		t.Errorf("the users tab answered %d, want 403", status)
	}
}
