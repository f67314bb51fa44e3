package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/sqlite"
)

const day = 24 * time.Hour

func TestDemoSpreadsOverThirtyDaysOnANewStore(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	_, errOut, err := cli(t, "", "demo", "--data", dir, "--count", "1000", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "" {
		t.Errorf("a demo on a new store wrote to stderr:\n%s", errOut)
	}
	acts := storedActivities(t, dir)
	checkSpread(t, acts, before.Add(-30*day), time.Now(), 30)
}

func TestDemoSpanChoosesHowFarBackANewStoreReaches(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	mustCLI(t, "demo", "--data", dir, "--count", "500", "--seed", "4", "--span", "72h")
	checkSpread(t, storedActivities(t, dir), before.Add(-3*day), time.Now(), 3)
}

func TestDemoOnAStoreWithEarlierActivities(t *testing.T) {
	cases := []struct {
		name           string
		newest         time.Duration // before now
		startsAtNewest bool          // else 30 days before now
		minDays        int
		stderr         string
		noStderr       string
	}{
		{"older than the span keeps the full span", 60 * day, false, 30, "", "auditlog demo"},
		{"within the span starts at the newest", 10 * day, true, 10, "spread over the 10 days since then", "warning"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			newest := time.Now().Add(-c.newest)
			recordAt(t, dir, newest)
			before := time.Now()
			from := before.Add(-30 * day)
			if c.startsAtNewest {
				from = newest
			}
			_, errOut, err := cli(t, "", "demo", "--data", dir, "--count", "600", "--seed", "5")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(errOut, c.stderr) || strings.Contains(errOut, c.noStderr) {
				t.Errorf("stderr should hold %q and not %q:\n%s", c.stderr, c.noStderr, errOut)
			}
			acts := storedActivities(t, dir)
			checkSpread(t, acts[:len(acts)-1], from, time.Now(), c.minDays)
		})
	}
}

func TestDemoWhileServingWarnsAndSpreadsOverTheTimeSinceTheNewest(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir) // records the System Admin group and the admin user, stamped now
	// At least 100 ms since then: 1000 activities a microsecond or more apart.
	time.Sleep(100 * time.Millisecond)
	first := storedActivities(t, dir)
	_, errOut, err := cli(t, "", "demo", "--data", dir, "--count", "1000", "--seed", "6")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warning", "will cluster in the", "never go back", "before its first serve", "fresh --data directory"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the demo's stderr does not say %q:\n%s", want, errOut)
		}
	}
	acts := storedActivities(t, dir)
	if len(acts) != len(first)+1000 {
		t.Fatalf("%d activities after the demo, %d before", len(acts), len(first))
	}
	checkSpread(t, acts[:1000], first[0].Created, time.Now(), 1)
}

func TestDemoOnAStoreWithFutureActivitiesWarnsTheyShareItsTime(t *testing.T) {
	dir := t.TempDir()
	future := time.Now().Add(time.Hour)
	recordAt(t, dir, future)
	_, errOut, err := cli(t, "", "demo", "--data", dir, "--count", "10", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "will all get that time") {
		t.Errorf("the demo does not warn that its activities share the newest time:\n%s", errOut)
	}
}

func TestDemoRefusesASpanShorterThanAMinute(t *testing.T) {
	for _, span := range []string{"0s", "-720h", "59s"} {
		_, _, err := cli(t, "", "demo", "--data", t.TempDir(), "--span", span)
		if err == nil || !strings.Contains(describe(err), "--span") {
			t.Errorf("--span %s: %v", span, err)
		}
	}
}

// checkSpread fails unless the activities were created from from to to,
// over at least minDays UTC days and at most a few at one instant.
func checkSpread(t *testing.T, acts []auditlog.Activity, from, to time.Time, minDays int) {
	t.Helper()
	days := map[string]bool{}
	at := map[time.Time]int{}
	oldest, newest := acts[len(acts)-1].Created, acts[0].Created
	for _, a := range acts {
		days[a.Created.UTC().Format(time.DateOnly)] = true
		at[a.Created]++
	}
	// The store keeps microseconds.
	if oldest.Before(from.Truncate(time.Microsecond)) || newest.After(to) {
		t.Errorf("created from %s to %s, want within %s to %s", oldest, newest, from, to)
	}
	if oldest.After(from.Add(max(to.Sub(from)/20, time.Second))) {
		t.Errorf("the oldest activity was created at %s, long after the span's start %s", oldest, from)
	}
	if len(days) < minDays {
		t.Errorf("the activities fall on %d days, want at least %d", len(days), minDays)
	}
	for instant, n := range at {
		if n > 3 {
			t.Fatalf("%d activities were created at %s", n, instant)
		}
	}
}

// storedActivities reads every activity of the SQLite store in dir, newest first.
func storedActivities(t *testing.T, dir string) []auditlog.Activity {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acts, _, err := db.FindActivities(context.Background(), auditlog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) == 0 {
		t.Fatal("the store holds no activities")
	}
	return acts
}

// recordAt records one activity in the SQLite store in dir, created at the given time.
func recordAt(t *testing.T, dir string, created time.Time) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin(), Now: func() time.Time { return created }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	act := auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: "earlier.user"}
	if _, err := db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{act}); err != nil {
		t.Fatal(err)
	}
}
