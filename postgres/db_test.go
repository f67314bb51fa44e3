package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/postgres"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/storetest"
)

func openURL(t *testing.T, url string, clock *storetest.Clock) *postgres.DB {
	t.Helper()
	cfg := postgres.Config{URL: url, Builtin: catalog.Builtin()}
	if clock != nil {
		cfg.Now = clock.Now
	}
	db, err := postgres.Open(context.Background(), cfg)
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

func open(t *testing.T, clock *storetest.Clock) auditlog.Store {
	t.Helper()
	return openURL(t, pgtest.NewDatabase(t), clock)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestCreatedNeverDecreasesAcrossNodesWithSkewedClocks(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ahead := storetest.NewClock(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	behind := storetest.NewClock(time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC))
	nodes := []*postgres.DB{openURL(t, url, ahead), openURL(t, url, behind)}
	ctx := context.Background()
	for i := range 6 {
		if _, err := nodes[i%2].RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}}); err != nil {
			t.Fatal(err)
		}
	}
	acts, _, err := nodes[1].FindActivities(ctx, auditlog.Filter{OldestFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(acts); i++ {
		if acts[i].Created.Before(acts[i-1].Created) {
			t.Fatalf("activity %d created %v, before activity %d at %v", acts[i].ID, acts[i].Created, acts[i-1].ID, acts[i-1].Created)
		}
	}
}

func TestRefusesToRecordWhenTheTreeDoesNotCoverTheActivities(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	db := openURL(t, url, nil)
	ctx := context.Background()
	one := []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}}
	for range 3 {
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), one); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE tiles SET hashes = substring(hashes FROM 1 FOR 64) WHERE level = 0 AND idx = 0`); err != nil {
		t.Fatal(err)
	}
	// A second node, which has no tree of its own cached, must refuse too.
	for _, node := range []*postgres.DB{db, openURL(t, url, nil)} {
		_, err := node.RecordActivities(ctx, auditlog.TokenRecorder(1), one)
		if err == nil || !strings.Contains(err.Error(), "run auditlog verify") {
			t.Fatalf("recording over a tree that lacks the last leaf: %v", err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM activities`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d activities stored (%v), want 3", n, err)
	}
}

func TestAStoreOfTheVersionBeforeTilesKeepsItsTree(t *testing.T) {
	t.Parallel()
	// testdata/store-before-tiles.sql is a pg_dump of a database the
	// version before migrations 0005 and 0006 wrote: 600 logins, each with
	// an event id, the tree in tree_leaves and the event ids in activities.
	url := pgtest.NewDatabase(t)
	dump, err := os.ReadFile("testdata/store-before-tiles.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(dump)); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	conn.Close(ctx)
	db := openURL(t, url, nil)
	storetest.CheckMigratedStore(t, db, 600, "35815d2983e81f752f2cb1fa91ac349f63135e6d7a0cf0b5e9407b343db30215")
	var left int
	if err := db.Read.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'tree_leaves'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("tree_leaves is still there (%d, %v)", left, err)
	}
}
