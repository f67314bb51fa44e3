package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
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
		if _, err := db.RecordActivities(ctx, []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}}); err != nil {
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

func TestOpenBuildsTheTreeOfActivitiesRecordedWithoutIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := db.RecordActivities(ctx, []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}, {SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: "u"}}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := db.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A store written before the tree existed: migration 0002 not applied.
	raw, err := sql.Open("sqlite3", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`DROP TABLE tree_nodes`, `DROP TABLE checkpoints`, `DROP TABLE tree_backfill`,
		`DELETE FROM schema_migrations WHERE name = 'migration/0002_tree.sql'`} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err = sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != want.Size || !bytes.Equal(got.Root, want.Root) {
		t.Fatalf("rebuilt tree %d %x, want %d %x", got.Size, got.Root, want.Size, want.Root)
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
		if _, err := db.RecordActivities(ctx, acts); err != nil {
			t.Fatal(err)
		}
	}
	if n := statRows(); n == 0 {
		t.Fatal("no planner statistics for activities after 3,000 were recorded")
	}
}
