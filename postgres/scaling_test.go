package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/storetest"
)

// TestTimeScansUseTheBRINIndex checks the part of docs/scaling.md that is
// built: created_us has no B-tree, and a scan by time (what retention
// runs) reads the BRIN index's page ranges, not the whole table.
func TestTimeScansUseTheBRINIndex(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(base)
	url := pgtest.NewDatabase(t)
	db := openURL(t, url, clock)
	ctx := context.Background()
	for day := range 20 {
		clock.Set(base.AddDate(0, 0, day))
		acts := make([]auditlog.NewActivity, auditlog.MaxBatch)
		for i := range acts {
			acts[i] = auditlog.NewActivity{SystemName: "APPLICATION_UPGRADE", Operator: auditlog.OperatorMachine}
		}
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ANALYZE activities`); err != nil {
		t.Fatal(err)
	}
	var method string
	if err := conn.QueryRow(ctx, `SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am am ON am.oid = c.relam JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = 'activities'::regclass AND a.attname = 'created_us'`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "brin" {
		t.Fatalf("created_us is indexed by %s, want brin only", method)
	}

	cutoff := base.AddDate(0, 0, 2).UnixMicro()
	rows, err := conn.Query(ctx, `EXPLAIN (ANALYZE, FORMAT TEXT) SELECT count(*) FROM activities WHERE created_us < $1`, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "activities_by_created") {
		t.Fatalf("a scan of the first 2 of 20 days does not use the BRIN index:\n%s", plan)
	}
	var count int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM activities WHERE created_us < $1`, cutoff).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 2*auditlog.MaxBatch {
		t.Fatalf("%d activities before the cutoff, want %d", count, 2*auditlog.MaxBatch)
	}
}
