package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/storetest"
)

// recordNamed records n activities whose objects are named name and
// returns their ids.
func recordNamed(t *testing.T, db *sqlite.DB, name string, n int) []int64 {
	t.Helper()
	var ids []int64
	for len(ids) < n {
		acts := make([]auditlog.NewActivity, min(n-len(ids), auditlog.MaxBatch))
		for i := range acts {
			acts[i] = auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine, ObjectType: "User",
				ObjectID: strconv.Itoa(i), ObjectName: name + " " + strconv.Itoa(i%7)}
		}
		got, err := db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), acts)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

// searchIDs is what the search expr finds, newest first.
func searchIDs(t *testing.T, db *sqlite.DB, expr string) []int64 {
	t.Helper()
	s, err := auditlog.ParseSearch(expr, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if err := db.StreamActivities(context.Background(), auditlog.Filter{Search: s}, func(a *auditlog.Activity) error {
		ids = append(ids, a.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// removeIndex removes the search index's files from dir, as a lost disk
// or an administrator would.
func removeIndex(t *testing.T, dir string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, sqlite.IndexFileName+suffix)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

func openAt(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openReadOnlyAt opens the store in dir read-only, as auditlog verify does.
func openReadOnlyAt(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// searchError is the error of reading what the search expr finds.
func searchError(t *testing.T, db *sqlite.DB, expr string) error {
	t.Helper()
	s, err := auditlog.ParseSearch(expr, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return db.StreamActivities(context.Background(), auditlog.Filter{Search: s}, func(*auditlog.Activity) error { return nil })
}

// execIndex runs statements on the search index's file in dir, as an
// administrator with the sqlite3 shell would.
func execIndex(t *testing.T, dir string, statements ...string) {
	t.Helper()
	idx, err := sql.Open("sqlite3", filepath.Join(dir, sqlite.IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for _, stmt := range statements {
		if _, err := idx.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
}

// The index is derived from the activities: its file lost, it is built
// again from them, and a search finds what it found before.
func TestALostSearchIndexIsBuiltAgainFromTheActivities(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openAt(t, dir)
	recordNamed(t, db, "haystack", 3000)
	needles := recordNamed(t, db, "needle", 40)
	recordNamed(t, db, "haystack", 3000)
	if got := searchIDs(t, db, "needle"); len(got) != len(needles) {
		t.Fatalf("before: %d needles found, want %d", len(got), len(needles))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	removeIndex(t, dir)
	db = openAt(t, dir)
	defer db.Close()
	if got := searchIDs(t, db, "needle"); len(got) != len(needles) || got[0] != needles[len(needles)-1] {
		t.Fatalf("after the index was lost: found %v, want %v", got, needles)
	}
	st, err := db.SearchIndexed(context.Background())
	if err != nil || !st.Complete() || st.Newest != needles[0]+3000+39 {
		t.Fatalf("the index's state: %+v %v", st, err)
	}
	info, err := os.Stat(filepath.Join(dir, sqlite.IndexFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the index's file: %v %v, want mode 0600", info, err)
	}
}

// An index that holds activities the store does not (the database was
// restored from a copy older than the index) is built again, rather than
// answering with the words of activities that are gone.
func TestASearchIndexAheadOfTheStoreIsBuiltAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openAt(t, dir)
	recordNamed(t, db, "kept", 5)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	db = openAt(t, dir)
	recordNamed(t, db, "stale", 5)
	if got := searchIDs(t, db, "stale"); len(got) != 5 {
		t.Fatalf("stale activities found: %v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sqlite.FileName), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, dir)
	defer db.Close()
	fresh := recordNamed(t, db, "fresh", 5)
	if got := searchIDs(t, db, "stale"); len(got) != 0 {
		t.Fatalf("the restored store's search finds activities it does not hold: %v", got)
	}
	if got := searchIDs(t, db, "fresh"); len(got) != 5 || got[0] != fresh[4] {
		t.Fatalf("fresh activities found: %v, want %v", got, fresh)
	}
	if got := searchIDs(t, db, "kept"); len(got) != 5 {
		t.Fatalf("kept activities found: %v", got)
	}
}

// A store opened read-only that has no index says so when searched,
// rather than failing on a missing table.
func TestAReadOnlyStoreWithoutItsIndexSaysSoWhenSearched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openAt(t, dir)
	recordNamed(t, db, "needle", 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	removeIndex(t, dir)
	ro := openReadOnlyAt(t, dir)
	defer ro.Close()
	err := searchError(t, ro, "needle")
	if auditlog.ErrorCode(err) != auditlog.EUNAVAILABLE || !strings.Contains(auditlog.ErrorMessage(err), "auditlog serve builds it") {
		t.Fatalf("a search of a store without its index: %v", err)
	}
	if n, err := ro.CountActivities(context.Background(), auditlog.Filter{}); err != nil || n != 3 {
		t.Fatalf("a count without a search: %d %v", n, err)
	}
}

// A page filtered by two or more text columns reads the search index up
// to where it holds every activity, and the activities' B-trees beyond
// it. With the index holding only the older part of the log (a copy of
// its file taken then), every page holds what the filter selects, no
// activity twice and none left out, whichever side of the index's end it
// falls on.
func TestPagesOfSeveralColumnsReadTheIndexAndTheActivitiesBeyondIt(t *testing.T) {
	t.Parallel()
	dir, saved := t.TempDir(), t.TempDir()
	db := openAt(t, dir)
	record := func(from, n int) {
		acts := make([]auditlog.NewActivity, n)
		for i := range acts {
			acts[i] = storetest.SeveralColumns(from + i)
		}
		if _, err := db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), acts); err != nil {
			t.Fatal(err)
		}
	}
	record(0, 300)
	storetest.AwaitIndexed(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	copyIndex(t, dir, saved)
	db = openAt(t, dir)
	record(300, 200)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	removeIndex(t, dir)
	copyIndex(t, saved, dir)
	// The copy says it holds less than it does, as an index does between
	// committing documents and its reader learning of them: a page must
	// not find those activities twice.
	execIndex(t, dir, `UPDATE indexed SET through = 250`)

	ro := openReadOnlyAt(t, dir)
	defer ro.Close()
	st, err := ro.SearchIndexed(context.Background())
	if err != nil || st.Through != 250 || st.Newest != 500 {
		t.Fatalf("the index holds the activities up to %d of %d (%v), want 250 of 500", st.Through, st.Newest, err)
	}
	var stored []auditlog.Activity
	if err := ro.StreamActivities(context.Background(), auditlog.Filter{OldestFirst: true}, func(a *auditlog.Activity) error {
		stored = append(stored, *a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSeveralColumns(t, ro, stored)
}

// copyIndex copies the search index's files from one directory to another.
func copyIndex(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(from, sqlite.IndexFileName+suffix))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, sqlite.IndexFileName+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// An index of an earlier version lacks words that this version asks for
// (here: all of them, though it says it holds every activity). Opened
// for writing, the store builds it again; opened read-only, it says so
// when searched, and its filtered pages read the activities alone.
func TestASearchIndexOfAnEarlierVersionIsBuiltAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openAt(t, dir)
	ids := recordNamed(t, db, "needle", 30)
	storetest.AwaitIndexed(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	execIndex(t, dir, `INSERT INTO search_activities (search_activities) VALUES ('delete-all')`, `PRAGMA user_version = 1`)
	// recordNamed gives object ids 0 to 29, of type User.
	object := auditlog.Filter{ObjectTypes: []string{"User"}, ObjectIDs: []string{"7"}, Limit: 50}
	page := func(db *sqlite.DB) []int64 {
		t.Helper()
		acts, _, err := db.FindActivities(context.Background(), object)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, a := range acts {
			got = append(got, a.ID)
		}
		return got
	}

	ro := openReadOnlyAt(t, dir)
	if err := searchError(t, ro, "needle"); auditlog.ErrorCode(err) != auditlog.EUNAVAILABLE || !strings.Contains(auditlog.ErrorMessage(err), "earlier version") {
		t.Fatalf("a search of a read-only store with an index of an earlier version: %v", err)
	}
	if got := page(ro); !slices.Equal(got, []int64{ids[7]}) {
		t.Fatalf("read-only: the page of object User 7 holds %v, want %v", got, []int64{ids[7]})
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, dir)
	defer db.Close()
	if got := searchIDs(t, db, "needle"); len(got) != len(ids) {
		t.Fatalf("after the index was built again: %d needles found, want %d", len(got), len(ids))
	}
	if got := page(db); !slices.Equal(got, []int64{ids[7]}) {
		t.Fatalf("the page of object User 7 holds %v, want %v", got, []int64{ids[7]})
	}
}
