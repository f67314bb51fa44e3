package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/postgres/pgtest"
)

// Every node keeps the index behind the writer, one at a time: what one
// node records, a search on the other finds, counted once.
func TestTwoNodesKeepOneSearchIndex(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a, b := openURL(t, url, nil), openURL(t, url, nil)
	ctx := context.Background()
	var want []int64
	for round := range 6 {
		node := []auditlog.Store{a, b}[round%2]
		acts := make([]auditlog.NewActivity, 700)
		for i := range acts {
			acts[i] = auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine, ObjectType: "User",
				ObjectID: strconv.Itoa(i), ObjectName: []string{"needle", "haystack"}[i%2] + " " + strconv.Itoa(round)}
		}
		ids, err := node.RecordActivities(ctx, auditlog.TokenRecorder(1), acts)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if i%2 == 0 {
				want = append(want, id)
			}
		}
	}
	search, err := auditlog.ParseSearch("needle", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []auditlog.Store{b, a} {
		n, err := node.CountActivities(ctx, auditlog.Filter{Search: search})
		if err != nil || n != int64(len(want)) {
			t.Fatalf("needles counted: %d %v, want %d", n, err, len(want))
		}
		st, err := node.SearchIndexed(ctx)
		if err != nil || !st.Complete() {
			t.Fatalf("the index's state: %+v %v", st, err)
		}
	}
	got, _, err := b.FindActivities(ctx, auditlog.Filter{Search: search, Limit: 5})
	if err != nil || len(got) != 5 || got[0].ID != want[len(want)-1] {
		t.Fatalf("the newest needles: %v %v, want the first %d", got, err, want[len(want)-1])
	}
}
