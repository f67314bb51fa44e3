package main

import (
	"bytes"
	"encoding/csv"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/catalog"
)

func TestFirstStartCreatesAdminAndLogsGeneratedPasswordOnce(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	log := srv.log()
	if !regexp.MustCompile(`created the admin user in the System Admin group.*username=admin password=\S{20,}`).MatchString(log) {
		t.Fatalf("first start did not log the generated admin password:\n%s", log)
	}
	srv.kill()
	srv = startServer(t, dir)
	if strings.Contains(srv.log(), "password") {
		t.Fatalf("second start mentions a password:\n%s", srv.log())
	}
}

func TestAdminPasswordFromEnvironmentIsNeverLogged(t *testing.T) {
	const pw = "a-long-admin-password-42"
	srv := startServer(t, t.TempDir(), "AUDITLOG_ADMIN_PASSWORD="+pw)
	if strings.Contains(srv.log(), pw) {
		t.Fatalf("the log shows the admin password:\n%s", srv.log())
	}
	if !strings.Contains(srv.log(), "from AUDITLOG_ADMIN_PASSWORD") {
		t.Fatalf("the log does not say where the password came from:\n%s", srv.log())
	}
}

func TestTokenCreateWorksWhileServing(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	writer := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "ingest", "--scopes", "activities:write"))
	reader := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "reader", "--scopes", "activities:read", "--user", "admin"))
	for _, tok := range []string{writer, reader} {
		if !regexp.MustCompile(`^alt_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
			t.Fatalf("token create printed %q, want only the token", tok)
		}
	}
	activity := map[string]any{"activity_system_name": "USER_LOGIN", "operator": "human", "username": "jdoe"}
	if code := call(t, "POST", srv.url+"/api/v1/activities", writer, activity, nil); code != 201 {
		t.Fatalf("recording with a fresh token: status %d", code)
	}
	if code := call(t, "GET", srv.url+"/api/v1/activities", writer, nil, nil); code != 403 {
		t.Fatalf("listing with a write-only token: status %d, want 403", code)
	}
	if got := listAll(t, srv.url, reader, "username=jdoe"); len(got.Activities) != 1 {
		t.Fatalf("listing with the admin's read token found %d activities", len(got.Activities))
	}
}

func TestGroupAndUserCreate(t *testing.T) {
	dir := t.TempDir()
	out := mustCLI(t, "group", "create", "--data", dir, "--name", "Auditors", "--permissions", "activities:read,activities:export")
	if !strings.Contains(out, `"Auditors"`) || !strings.Contains(out, "activities:export") {
		t.Fatalf("group create printed %q", out)
	}
	out, _, err := cli(t, "a-good-long-password\n", "user", "create", "--data", dir, "--username", "audrey", "--group", "Auditors", "--password-stdin")
	if err != nil || !strings.Contains(out, `"audrey"`) || strings.Contains(out, "a-good-long-password") {
		t.Fatalf("user create: %q, %v", out, err)
	}
	out = mustCLI(t, "user", "create", "--data", dir, "--username", "bert", "--group", "Auditors")
	if !regexp.MustCompile(`password: \S{20,}`).MatchString(out) {
		t.Fatalf("user create without --password-stdin did not print a generated password: %q", out)
	}
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "a", "--scopes", "activities:read", "--user", "audrey"))
	if !strings.HasPrefix(token, "alt_") {
		t.Fatalf("token create printed %q", token)
	}
}

func TestCommandErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "group", "create", "--data", dir, "--name", "Auditors")
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"an unknown scope", "", []string{"token", "create", "--data", dir, "--name", "x", "--scopes", "activities:delete"}, "--scopes"},
		{"no scopes", "", []string{"token", "create", "--data", dir, "--name", "x"}, "--scopes"},
		{"no token name", "", []string{"token", "create", "--data", dir, "--scopes", "admin"}, "name"},
		{"a token for a missing user", "", []string{"token", "create", "--data", dir, "--name", "x", "--scopes", "admin", "--user", "ghost"}, "ghost"},
		{"an unknown permission", "", []string{"group", "create", "--data", dir, "--name", "X", "--permissions", "root"}, "--permissions"},
		{"a group that exists", "", []string{"group", "create", "--data", dir, "--name", "auditors"}, "exists"},
		{"a user in a missing group", "", []string{"user", "create", "--data", dir, "--username", "u", "--group", "Nobody"}, "Nobody"},
		{"a short password", "short\n", []string{"user", "create", "--data", dir, "--username", "u", "--group", "Auditors", "--password-stdin"}, "at least"},
		{"a database URL that does not parse", "", []string{"token", "create", "--database-url", "postgres://u@host:port/db", "--name", "x", "--scopes", "admin"}, "--database-url"},
		{"an unknown command", "", []string{"frobnicate"}, "frobnicate"},
		{"a stray argument", "", []string{"demo", "--data", dir, "extra"}, "extra"},
		{"a demo count of zero", "", []string{"demo", "--data", dir, "--count", "0"}, "--count"},
		{"an edit without a change", "", []string{"group", "edit", "--data", dir, "--name", "Auditors"}, "--rename"},
		{"an edit of a missing group", "", []string{"group", "edit", "--data", dir, "--name", "Nobody", "--rename", "X"}, "Nobody"},
		{"a group delete without a name", "", []string{"group", "delete", "--data", dir}, "--name"},
		{"a user edit without a change", "", []string{"user", "edit", "--data", dir, "--username", "u"}, "--group"},
		{"a user both disabled and enabled", "", []string{"user", "edit", "--data", dir, "--username", "u", "--disable", "--enable"}, "--disable"},
		{"a delete of a missing user", "", []string{"user", "delete", "--data", dir, "--username", "ghost"}, "ghost"},
		{"a token revoke without an id", "", []string{"token", "revoke", "--data", dir}, "--id"},
		{"a revoke of a missing token", "", []string{"token", "revoke", "--data", dir, "--id", "999"}, "999"},
		{"a session revoke by two selectors", "", []string{"session", "revoke", "--data", dir, "--user", "u", "--group", "g"}, "exactly one"},
		{"a bad trusted proxy", "", []string{"serve", "--data", dir, "--trusted-proxies", "10.0.0.0/8,proxy.example"}, "--trusted-proxies"},
		{"a TLS certificate without its key", "", []string{"serve", "--data", dir, "--tls-cert", "cert.pem"}, "--tls-cert"},
		{"a TLS certificate that does not load", "", []string{"serve", "--data", dir, "--tls-cert", "missing.pem", "--tls-key", "missing.key"}, "--tls-cert"},
		{"a session shorter than a minute", "", []string{"serve", "--data", dir, "--session-idle", "5s"}, "--session-ttl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := cli(t, c.stdin, c.args...)
			if err == nil {
				t.Fatal("the command succeeded")
			}
			if msg := describe(err); !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not mention %q", msg, c.want)
			}
		})
	}
}

func TestDataDirectoryFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AUDITLOG_DATA", dir)
	mustCLI(t, "group", "create", "--name", "FromEnv")
	if _, _, err := cli(t, "", "group", "create", "--data", dir, "--name", "FromEnv"); err == nil {
		t.Fatal("AUDITLOG_DATA was not used: the group does not exist in that directory")
	}
}

func TestDemoCoversEveryActivityTypeAndBothOperators(t *testing.T) {
	dir := t.TempDir()
	out := mustCLI(t, "demo", "--data", dir, "--count", "1000", "--seed", "1")
	if !strings.Contains(out, "recorded 1000 demo activities") {
		t.Fatalf("demo printed %q", out)
	}
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "r", "--scopes", "activities:read"))
	srv := startServer(t, dir)
	acts := listAll(t, srv.url, token, "").Activities
	// Newest first: the first start's admin user and group, the token, then the demo's.
	if len(acts) != 1003 || acts[0].SystemName != "CREATE_USER" || acts[1].SystemName != "CREATE_PERMISSION_GROUP" ||
		acts[2].SystemName != "CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER" {
		t.Fatalf("%d activities after demo --count 1000, a token and the first start", len(acts))
	}
	acts = acts[3:]
	types := map[string]bool{}
	operators := map[string]int{}
	withChanges := 0
	for _, a := range acts {
		types[a.SystemName] = true
		operators[a.Operator]++
		if len(a.Changes) > 0 {
			withChanges++
		}
	}
	if len(types) != len(catalog.Builtin()) {
		t.Errorf("demo used %d of the %d activity types", len(types), len(catalog.Builtin()))
	}
	if operators["human"] < 300 || operators["machine"] < 100 {
		t.Errorf("operators %v: want both well represented", operators)
	}
	if withChanges < 20 {
		t.Errorf("only %d demo activities carry column changes", withChanges)
	}
	day := listAll(t, srv.url, token, "created_from="+dateDaysAgo(29)+"&created_to="+dateDaysAgo(1))
	if len(day.Activities) < 800 {
		t.Errorf("demo activities are not spread over the last 30 days: %d fall between 29 and 1 days ago", len(day.Activities))
	}
}

func dateDaysAgo(days int) string {
	return time.Now().UTC().AddDate(0, 0, -days).Format(time.DateOnly)
}

func TestExportCommandWritesTheFilteredActivitiesAndRecordsItself(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "demo", "--data", dir, "--count", "600", "--seed", "2")
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "r", "--scopes", "activities:read"))
	srv := startServer(t, dir)
	file := filepath.Join(dir, "machine.csv")
	mustCLI(t, "export", "--data", dir, "--operator", "machine", "--output", file)
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	machine := listAll(t, srv.url, token, "operator=machine").Activities
	// The export recorded itself (as machine) before it ran, so it is in the file.
	if len(records)-1 != len(machine) || records[1][5] != "DOWNLOAD_CSV" {
		t.Fatalf("the export holds %d rows starting with %q; the list %d machine activities", len(records)-1, records[1][5], len(machine))
	}
	jsonl := mustCLI(t, "export", "--data", dir, "--format", "jsonl", "--object-type", "AuditLogExport")
	if lines := strings.Count(jsonl, "\n"); lines != 2 {
		t.Fatalf("the JSON Lines export of both exports holds %d lines:\n%s", lines, jsonl)
	}
	if _, _, err := cli(t, "", "export", "--data", dir, "--created-on", "2026-02-30"); err == nil || !strings.Contains(describe(err), "--created-on") {
		t.Fatalf("a bad date: %v", err)
	}
	if _, _, err := cli(t, "", "export", "--data", dir, "--format", "xml"); err == nil || !strings.Contains(describe(err), "--format") {
		t.Fatalf("a bad format: %v", err)
	}
}

func TestServeSignsACheckpointCoveringNewActivitiesWithinASecond(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	if !regexp.MustCompile(`checkpoints are signed by" origin=auditlog/[0-9a-f]{16} verifier_key=auditlog/[0-9a-f]{16}\+[0-9a-f]{8}\+\S+`).MatchString(srv.log()) {
		t.Fatalf("serve does not print its verifier key:\n%s", srv.log())
	}
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:write,activities:read"))
	var out struct{ IDs []int64 }
	if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine"}, &out); code != 201 {
		t.Fatalf("record: %d", code)
	}
	recorded := time.Now()
	// The service checks for growth every half second; allow for a slow machine.
	for time.Since(recorded) < 10*time.Second {
		if servedSize(t, srv, token) == out.IDs[0] {
			t.Logf("covered after %v", time.Since(recorded).Round(time.Millisecond))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no checkpoint covers the activity 10 s after it was recorded")
}

func TestServeSignsWhatItRecordedWhenItStops(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:write"))
	acts := make([]map[string]any, 1000)
	for i := range acts {
		acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine"}
	}
	if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activities": acts}, nil); code != 201 {
		t.Fatalf("record: %d", code)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-srv.exited
	out := mustCLI(t, "verify", "--data", dir)
	// The 1,000 and, before them, the first start's group and admin user and the token.
	if !strings.Contains(out, "latest signed checkpoint: size 1003") || strings.Contains(out, "not signed yet") {
		t.Fatalf("after a clean stop, verify says:\n%s", out)
	}
}

// AUDITLOG_ADMIN_PASSWORD only sets the first start's password: a later
// one says so, and how to change it, rather than ignoring it silently.
func TestAChangedAdminPasswordVariableSaysHowToResetThePassword(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "AUDITLOG_ADMIN_PASSWORD=a-long-admin-password-42").kill()
	const changed = "another-long-password-43"
	srv := startServer(t, dir, "AUDITLOG_ADMIN_PASSWORD="+changed)
	if log := srv.log(); !strings.Contains(log, "was ignored") || !strings.Contains(log, "auditlog user edit --username admin --password-stdin") || strings.Contains(log, changed) {
		t.Fatalf("the second start's log:\n%s", log)
	}
}

// serve on an address that is taken fails before it creates anything.
func TestServeOnATakenPortCreatesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "data")
	_, _, err = cli(t, "", "serve", "--data", dir, "--addr", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("serve on a taken port: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("serve on a taken port left %s behind (%v)", dir, err)
	}
}

func TestActivityTypesFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	out := mustCLI(t, "activity-type", "create", "--data", dir, "--display-name", "Approve Invoice", "--description", "An invoice is approved", "--subtypes", "By Rule, Manually")
	for _, want := range []string{`"Approve Invoice" as APPROVE_INVOICE`, `"By Rule" as BY_RULE`, `"Manually" as MANUALLY`} {
		if !strings.Contains(out, want) {
			t.Fatalf("activity-type create printed %q; want %q", out, want)
		}
	}
	list := mustCLI(t, "activity-type", "list", "--data", dir)
	if !regexp.MustCompile(`APPROVE_INVOICE\s+Approve Invoice\s+BY_RULE,MANUALLY\s+true`).MatchString(list) || !strings.Contains(list, "USER_LOGIN") {
		t.Fatalf("activity-type list printed:\n%s", list)
	}
	if _, _, err := cli(t, "", "activity-type", "create", "--data", dir, "--display-name", "Approve Invoice"); err == nil {
		t.Fatal("registering the same type twice passed")
	}
	if _, _, err := cli(t, "", "activity-type", "create", "--data", dir); err == nil || !strings.Contains(describe(err), "--display-name") {
		t.Fatalf("no display name: %v", err)
	}
	// The new type records like any other.
	srv := startServer(t, dir)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "app", "--scopes", "activities:write"))
	if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activity_system_name": "APPROVE_INVOICE", "activity_subtype_system_name": "MANUALLY", "operator": "human", "username": "jdoe"}, nil); code != 201 {
		t.Fatalf("recording the new type: %d", code)
	}
}

func TestMetricsForAScraperWithTheMetricsToken(t *testing.T) {
	const scraper = "a-scraper-token-of-some-length"
	srv := startServer(t, t.TempDir(), "AUDITLOG_METRICS_TOKEN="+scraper)
	if code := call(t, "GET", srv.url+"/metrics", scraper, nil, nil); code != 200 {
		t.Fatalf("/metrics with the scraper's token: %d", code)
	}
	if code := call(t, "GET", srv.url+"/metrics", "", nil, nil); code != 401 {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	if _, _, err := cli(t, "", "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--metrics-token", "short"); err == nil || !strings.Contains(describe(err), "--metrics-token") {
		t.Fatalf("a short metrics token: %v", err)
	}
}
