package sqlite_test

import (
	"context"
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
