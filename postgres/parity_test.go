package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
	"github.com/auditlog/auditlog/export"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/storetest"
	"github.com/auditlog/auditlog/tlog"
)

// TestSameResultsAsSQLite records the same activities at the same times in
// both stores and expects byte-for-byte the same listings, exports, tree
// heads and proofs.
func TestSameResultsAsSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(base)
	pg := open(t, clock)
	lite, err := sqlite.Open(ctx, sqlite.Config{Dir: t.TempDir(), Builtin: catalog.Builtin(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	stores := map[string]auditlog.Store{"sqlite": lite, "postgres": pg}

	gen := demo.New(7, catalog.Builtin())
	var sample []auditlog.NewActivity
	for b := range 40 {
		clock.Set(base.Add(time.Duration(b) * 97 * time.Minute))
		batch := make([]auditlog.NewActivity, 1+b%30)
		for i := range batch {
			batch[i] = gen.Next()
		}
		sample = append(sample, batch[0])
		for name, s := range stores {
			if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), batch); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}

	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	filters := []auditlog.Filter{
		{},
		{Limit: 7},
		{Activities: []string{sample[3].SystemName, sample[9].SystemName}, Limit: 5},
		{Operators: []auditlog.Operator{auditlog.OperatorMachine}},
		{Usernames: []string{sample[1].Username, sample[2].Username}, Limit: 3, BeforeID: 400},
		{ObjectTypes: []string{sample[4].ObjectType}, ObjectIDs: []string{sample[4].ObjectID}},
		{CreatedFrom: day, CreatedTo: day.Add(36 * time.Hour), Zone: berlin},
		{CreatedFrom: day.Add(5 * time.Hour), Operators: []auditlog.Operator{auditlog.OperatorHuman}, Limit: 10},
		{IDs: []int64{3, 30, 300}, OldestFirst: true},
	}
	for i, f := range filters {
		want := render(t, lite, f)
		if got := render(t, pg, f); got != want {
			t.Fatalf("filter %d (%+v) differs:\npostgres %s\n  sqlite %s", i, f, got, want)
		}
	}

	heads := map[string]auditlog.TreeHead{}
	for name, s := range stores {
		if heads[name], err = s.TreeHead(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if heads["sqlite"].Size != heads["postgres"].Size || !bytes.Equal(heads["sqlite"].Root, heads["postgres"].Root) {
		t.Fatalf("tree heads differ: %+v", heads)
	}
	size := heads["sqlite"].Size
	for _, index := range []uint64{0, 1, size / 2, size - 1} {
		proofs := map[string][][]byte{}
		for name, s := range stores {
			p, err := tlog.InclusionProof(index, size, func(ids []auditlog.NodeID) ([][]byte, error) { return s.TreeNodes(ctx, ids) })
			if err != nil {
				t.Fatal(err)
			}
			proofs[name] = p
		}
		if fmt.Sprint(proofs["sqlite"]) != fmt.Sprint(proofs["postgres"]) {
			t.Fatalf("inclusion proofs of leaf %d differ", index)
		}
	}
}

// render writes what a store returns for f: the page as JSON, then the
// CSV and JSON Lines exports of the same filter without paging.
func render(t *testing.T, s auditlog.Store, f auditlog.Filter) string {
	t.Helper()
	ctx := context.Background()
	acts, more, err := s.FindActivities(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	page, err := json.Marshal(acts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s more=%v\n", page, more)
	unpaged := f
	unpaged.Limit, unpaged.BeforeID = 0, 0
	for _, format := range []export.Format{export.CSV, export.JSONL} {
		if err := export.Stream(ctx, s, format, unpaged, "", &out); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}
