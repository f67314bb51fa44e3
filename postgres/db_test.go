package postgres_test

import (
	"context"
	"testing"

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
