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

func TestOpenMovesTheTreeOfAnEarlierVersionIntoTiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	acts := make([]auditlog.NewActivity, 700) // two full tiles and a partial one
	for i := range acts {
		acts[i] = auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: fmt.Sprint("u", i)}
	}
	if _, err := db.RecordActivities(ctx, acts); err != nil {
		t.Fatal(err)
	}
	want, err := db.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	if err := db.StreamLeafHashes(ctx, 0, func(_ uint64, h []byte) error { leaves = append(leaves, bytes.Clone(h)); return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The store as the version before migration 0005 left it: the tree in
	// tree_nodes (every node; the leaves at level 0), no tiles.
	raw, err := sql.Open("sqlite3", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`DROP TABLE tiles`,
		`CREATE TABLE tree_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID`,
		`CREATE TABLE tree_backfill (upto INTEGER NOT NULL)`,
		`INSERT INTO tree_backfill VALUES (0)`,
		`CREATE INDEX activities_by_activity ON activities (activity_system_name)`,
		`CREATE INDEX activities_by_object_type ON activities (object_type)`,
		`CREATE INDEX activities_by_created ON activities (created_us)`,
		`DELETE FROM schema_migrations WHERE name = 'migration/0005_tiles.sql'`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Inserted in reverse: the move must read them in index order.
	for i := len(leaves) - 1; i >= 0; i-- {
		if _, err := raw.Exec(`INSERT INTO tree_nodes VALUES (0, ?, ?), (1, ?, ?)`, i, leaves[i], i+10000, []byte("an inner node")); err != nil {
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
		t.Fatalf("tree after the move %d %x, want %d %x", got.Size, got.Root, want.Size, want.Root)
	}
	ids, err := db.RecordActivities(ctx, acts[:1])
	if err != nil || ids[0] != 701 {
		t.Fatalf("the next activity after the move: %v %v, want id 701", ids, err)
	}
	check, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var n int
	if err := check.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tree_nodes'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tree_nodes is still there (%d, %v)", n, err)
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
