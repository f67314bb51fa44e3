package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/storetest"
	"github.com/auditlog/auditlog/tlog"
)

func TestNodesStartingTogetherMigrateOnceAndCreateOneAdmin(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const nodes = 6
	created := make(chan bool, nodes)
	var wg sync.WaitGroup
	for range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := openURL(t, url, nil)
			c, err := db.Bootstrap(context.Background(), "hash")
			if err != nil {
				t.Errorf("bootstrap: %v", err)
			}
			created <- c
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d nodes created the admin, want 1", n)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var migrations, distinct int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&migrations, &distinct); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migration/*.sql")
	if err != nil || len(files) < 4 {
		t.Fatalf("the migration files: %v, %v", files, err)
	}
	if migrations != len(files) || distinct != len(files) {
		t.Fatalf("schema_migrations holds %d rows of %d migrations, want each of the %d once", migrations, distinct, len(files))
	}
}

// TestNodesShareOneTreeAndOneSequenceOfCheckpoints records through two
// stores on one database at once, with a checkpointer on each publishing
// all the while, and expects dense ids, one tree and checkpoints that all
// verify against it.
func TestNodesShareOneTreeAndOneSequenceOfCheckpoints(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	nodes := []auditlog.Store{openURL(t, url, nil), openURL(t, url, nil)}
	skey, err := tlog.GenerateKey("auditlog.test/nodes")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var publishers sync.WaitGroup
	for _, n := range nodes {
		publishers.Add(1)
		go func() {
			defer publishers.Done()
			cp := &tlog.Checkpointer{Store: n, Signer: signer}
			for {
				if _, err := cp.Publish(ctx); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}

	var mu sync.Mutex
	var ids []int64
	var writers sync.WaitGroup
	for w := range 6 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for r := range 15 {
				acts := make([]auditlog.NewActivity, 1+(w*7+r)%25)
				for i := range acts {
					acts[i] = auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorHuman, Username: fmt.Sprint(w, r, i)}
					if i == 0 {
						// The same event through both nodes: recorded once.
						acts[i].Username = fmt.Sprint("event ", r)
						acts[i].EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", r)
					}
				}
				got, err := nodes[w%2].RecordActivities(ctx, auditlog.TokenRecorder(1), acts)
				if err != nil {
					t.Errorf("record: %v", err)
					return
				}
				if !slices.IsSorted(got[1:]) {
					t.Errorf("ids of one batch %v", got)
				}
				mu.Lock()
				ids = append(ids, got...)
				mu.Unlock()
			}
		}()
	}
	writers.Wait()
	close(stop)
	publishers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := (&tlog.Checkpointer{Store: nodes[1], Signer: signer}).Publish(ctx); err != nil {
		t.Fatal(err)
	}

	slices.Sort(ids)
	ids = slices.Compact(ids)
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("ids are not dense: position %d holds %d", i, id)
		}
	}
	v, err := tlog.NewVerifier(signer.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	report, err := tlog.Verify(ctx, nodes[0], v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() || report.Activities != uint64(len(ids)) || report.Checkpoint == nil || report.Checkpoint.Size != uint64(len(ids)) {
		t.Fatalf("verify: %+v (%d activities recorded)", report, len(ids))
	}
	checkpoints, err := nodes[1].Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(checkpoints) < 3 {
		t.Fatalf("only %d checkpoints were published while recording", len(checkpoints))
	}

	// A node with a key of its own must not go on signing the log.
	other, _ := tlog.GenerateKey("auditlog.test/impostor")
	impostor, _ := tlog.NewSigner(other)
	if _, err := nodes[0].RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&tlog.Checkpointer{Store: nodes[0], Signer: impostor}).Publish(ctx); err == nil {
		t.Fatal("a checkpointer with another key signed the log")
	}
}

// TestDateFiltersOnManyActivities checks the date-to-id search over more
// activities than one round of it reads, many sharing one time (one group
// commit), against a scan.
func TestDateFiltersOnManyActivities(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(base)
	db := open(t, clock)
	ctx := context.Background()
	for b := range 60 {
		clock.Set(base.Add(time.Duration(b) * 37 * time.Minute))
		acts := make([]auditlog.NewActivity, 1+b%90)
		for i := range acts {
			acts[i] = auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: fmt.Sprint("u", i%3)}
		}
		if _, err := db.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
			t.Fatal(err)
		}
	}
	stored, _, err := db.FindActivities(ctx, auditlog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < 1000 {
		t.Fatalf("%d activities: too few for the search to need several rounds", len(stored))
	}
	for i := range 40 {
		from := base.Add(time.Duration(i*53-60) * time.Minute)
		to := from.Add(time.Duration(i*i*7) * time.Minute)
		for _, f := range []auditlog.Filter{
			{CreatedFrom: from, CreatedTo: to},
			{CreatedFrom: from},
			{CreatedTo: to},
			{CreatedFrom: from, CreatedTo: to, Usernames: []string{"u1"}, Limit: 7},
		} {
			var want []int64
			for _, a := range stored {
				if (f.CreatedFrom.IsZero() || !a.Created.Before(f.CreatedFrom)) && (f.CreatedTo.IsZero() || !a.Created.After(f.CreatedTo)) &&
					(len(f.Usernames) == 0 || a.Username == f.Usernames[0]) {
					want = append(want, a.ID)
				}
			}
			if f.Limit > 0 && len(want) > f.Limit {
				want = want[:f.Limit]
			}
			got, _, err := db.FindActivities(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			gotIDs := make([]int64, len(got))
			for j, a := range got {
				gotIDs[j] = a.ID
			}
			if !slices.Equal(gotIDs, want) {
				t.Fatalf("from %v to %v: got %d ids, want %d (%v… vs %v…)", f.CreatedFrom, f.CreatedTo, len(gotIDs), len(want), gotIDs[:min(3, len(gotIDs))], want[:min(3, len(want))])
			}
		}
	}
}
