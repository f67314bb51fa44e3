package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/storetest"
)

func open(t *testing.T, clock *storetest.Clock) auditlog.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Builtin: catalog.Builtin(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	for i := range 3 {
		db, err := sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}}); err != nil {
			t.Fatal(err)
		}
		acts, _, err := db.FindActivities(ctx, auditlog.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != i+1 {
			t.Fatalf("open %d: %d activities, want %d", i, len(acts), i+1)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAStoreOfTheVersionBeforeTilesKeepsItsTree(t *testing.T) {
	t.Parallel()
	// testdata/store-before-tiles.db was written by the version before
	// migrations 0005 and 0006: 600 logins, each with an event id, the tree
	// in tree_nodes and the event ids in activities.
	dir := t.TempDir()
	fixture, err := os.ReadFile("testdata/store-before-tiles.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sqlite.FileName), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckMigratedStore(t, db, 600, "98903a40db42a1e9bac9903f3ec28e71094247032f5aaa368f17347f7c464281")

	check, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var n int
	if err := check.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('tree_nodes', 'tree_backfill')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the old tree's tables are still there (%d, %v)", n, err)
	}
}

func TestPlannerStatisticsFollowTheLogAsItGrows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	statRows := func() int {
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'`).Scan(&n); err != nil || n == 0 {
			return 0
		}
		if err := raw.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'activities'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := statRows(); n != 0 {
		t.Fatalf("an empty store has %d statistics rows", n)
	}
	// A server that started on an empty store is never reopened: its
	// statistics must still appear as the log grows.
	for range 3 {
		acts := make([]auditlog.NewActivity, auditlog.MaxBatch)
		for i := range acts {
			acts[i] = auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: fmt.Sprint("user", i%50)}
		}
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
			t.Fatal(err)
		}
	}
	if n := statRows(); n == 0 {
		t.Fatal("no planner statistics for activities after 3,000 were recorded")
	}
}

func TestTheDatabaseFilesAreReadableByTheirOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	// A database file left readable by others, as the version before
	// created it.
	path := filepath.Join(dir, sqlite.FileName)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: "u"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal", sqlite.FileName + "-shm"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, info.Mode().Perm())
		}
	}
}
