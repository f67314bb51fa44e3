package sequencer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/internal/sequencer"
	"github.com/auditlog/auditlog/internal/sqlstore"
	"github.com/auditlog/auditlog/postgres"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/storetest"
)

// opened is a store, its shared SQL implementation (whose Change runs in
// the sequencer), and a way to open a second writer on the same database,
// as another process or node would.
type opened struct {
	auditlog.Store
	shared *sqlstore.Shared
	second func(t *testing.T) auditlog.Store
}

// stores opens each kind of store, empty.
func stores() map[string]func(t *testing.T) opened { return storesOfGroups(0) }

// storesOfGroups opens each kind of store, empty, whose group commits
// hold maxGroupRows rows (0: the default).
func storesOfGroups(maxGroupRows int) map[string]func(t *testing.T) opened {
	openSQLite := func(t *testing.T, dir string) *sqlite.DB {
		db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin(), MaxGroupRows: maxGroupRows})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	openPostgres := func(t *testing.T, url string) *postgres.DB {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Builtin: catalog.Builtin(), MaxGroupRows: maxGroupRows})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return map[string]func(t *testing.T) opened{
		"sqlite": func(t *testing.T) opened {
			dir := t.TempDir()
			db := openSQLite(t, dir)
			return opened{db, db.Shared, func(t *testing.T) auditlog.Store { return openSQLite(t, dir) }}
		},
		"postgres": func(t *testing.T) opened {
			url := pgtest.NewDatabase(t)
			db := openPostgres(t, url)
			return opened{db, db.Shared, func(t *testing.T) auditlog.Store { return openPostgres(t, url) }}
		},
	}
}

func login(user, event string) auditlog.NewActivity {
	return auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: user, EventID: event}
}

const (
	eventA = "00000000-0000-4000-8000-00000000000a"
	eventB = "00000000-0000-4000-8000-00000000000b"
)

func TestEveryRequestOfAGroupIsAllOrNothingAndEventIDsAreRecordedOnce(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			shared := s.shared
			ctx := context.Background()
			before, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{login("early", eventB)})
			if err != nil {
				t.Fatal(err)
			}

			// A change that holds the sequencer until released, so that the
			// requests below arrive while a commit is in flight and share the
			// next one.
			held, release := make(chan struct{}), make(chan struct{})
			go shared.Change(ctx, func(context.Context, sqlstore.Querier) ([]auditlog.NewActivity, error) {
				close(held)
				<-release
				return nil, nil
			})
			<-held

			var wg sync.WaitGroup
			var batchIDs, againIDs, otherIDs []int64
			var batchErr, againErr, failedErr, changeErr, conflictErr, otherErr error
			wg.Add(6)
			go func() {
				defer wg.Done()
				// Within one request: eventA twice, and eventB recorded before.
				batchIDs, batchErr = s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{
					login("u1", eventA), login("u2", ""), login("u1", eventA), login("early", eventB)})
			}()
			go func() {
				defer wg.Done()
				// A change whose own statements fail: rolled back alone.
				failedErr = shared.Change(ctx, func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error) {
					if err := tx.Exec(ctx, `INSERT INTO permission_groups (name, permissions, created_us) VALUES ($1, $2, $3)`, "Doomed", "", 0); err != nil {
						return nil, err
					}
					return nil, errors.New("refused on purpose")
				})
			}()
			go func() {
				defer wg.Done()
				// A change that succeeds, with the activity that records it.
				changeErr = shared.Change(ctx, func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error) {
					if err := tx.Exec(ctx, `INSERT INTO permission_groups (name, permissions, created_us) VALUES ($1, $2, $3)`, "Kept", "", 0); err != nil {
						return nil, err
					}
					return []auditlog.NewActivity{{SystemName: "CREATE_PERMISSION_GROUP", Operator: auditlog.OperatorMachine, ObjectName: "Kept"}}, nil
				})
			}()
			go func() {
				defer wg.Done()
				// Another request with eventA, in the same commit as its first.
				againIDs, againErr = s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{login("u1", eventA)})
			}()
			go func() {
				defer wg.Done()
				// eventA from another recorder: an activity of its own.
				otherIDs, otherErr = s.RecordActivities(ctx, auditlog.TokenRecorder(2), []auditlog.NewActivity{login("u1", eventA)})
			}()
			time.Sleep(100 * time.Millisecond) // queued behind the held commit
			go func() {
				defer wg.Done()
				// eventA from the same recorder for other content, queued
				// after the others into the same commit: refused alone.
				_, conflictErr = s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{login("u6", ""), login("mallory", eventA)})
			}()
			time.Sleep(100 * time.Millisecond) // all six queued behind the held commit
			close(release)
			wg.Wait()

			if batchErr != nil || againErr != nil || changeErr != nil || otherErr != nil {
				t.Fatalf("batch %v, again %v, change %v, other recorder %v", batchErr, againErr, changeErr, otherErr)
			}
			var conflict *auditlog.Error
			if !errors.As(conflictErr, &conflict) || conflict.Code != auditlog.ECONFLICT || conflict.Field != "event_id" || conflict.Index != 1 {
				t.Fatalf("eventA for other content answered %#v, want a conflict on activities[1].event_id", conflictErr)
			}
			if len(otherIDs) != 1 || otherIDs[0] == batchIDs[0] {
				t.Fatalf("eventA from another recorder got %v, want an id of its own (not %d)", otherIDs, batchIDs[0])
			}
			if failedErr == nil || failedErr.Error() != "refused on purpose" {
				t.Fatalf("the failing change answered %v", failedErr)
			}
			if len(batchIDs) != 4 || batchIDs[2] != batchIDs[0] || batchIDs[3] != before[0] || batchIDs[1] == batchIDs[0] {
				t.Fatalf("batch ids %v: want the repeated eventA to get its first id and eventB the id %d recorded before", batchIDs, before[0])
			}
			if len(againIDs) != 1 || againIDs[0] != batchIDs[0] {
				t.Fatalf("eventA from another request got %v, want %d", againIDs, batchIDs[0])
			}
			var groups int
			if err := shared.Read.QueryRow(ctx, `SELECT count(*) FROM permission_groups WHERE name IN ($1, $2)`, "Doomed", "Kept").Scan(&groups); err != nil {
				t.Fatal(err)
			}
			if groups != 1 {
				t.Fatalf("%d of the two groups stored, want only the kept one", groups)
			}
			// early, then u2, the kept group's record, whichever request
			// came first with eventA and the other recorder's: ids 1 to 5, no
			// gap, nothing of the refused request.
			acts, _, err := s.FindActivities(ctx, auditlog.Filter{OldestFirst: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, a := range acts {
				if a.ID != int64(i+1) {
					t.Fatalf("activity %d has id %d: ids are not dense", i+1, a.ID)
				}
				if a.ID == batchIDs[0] && (a.Username != "u1" || a.RecordedBy != auditlog.TokenRecorder(1)) {
					t.Fatalf("eventA's activity is %s's, recorded by %s", a.Username, a.RecordedBy)
				}
				got = append(got, a.Username+a.SystemName)
			}
			slices.Sort(got[1:]) // the requests were queued in any order
			if fmt.Sprint(got) != "[earlyUSER_LOGIN CREATE_PERMISSION_GROUP u1USER_LOGIN u1USER_LOGIN u2USER_LOGIN]" {
				t.Fatalf("activities %v", got)
			}
			head, err := s.TreeHead(ctx)
			if err != nil || head.Size != 5 {
				t.Fatalf("tree head %+v, %v: want one leaf per activity", head, err)
			}
		})
	}
}

func TestIdsAndTheTreeContinueAcrossTwoWritersOfOneStore(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := context.Background()
			// 300 activities cross a tile boundary; a second writer on the
			// same database (another process, another node) goes on from
			// where the first stopped.
			acts := make([]auditlog.NewActivity, 300)
			for i := range acts {
				acts[i] = login(fmt.Sprint("u", i), "")
			}
			if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
				t.Fatal(err)
			}
			ids, err := s.second(t).RecordActivities(ctx, auditlog.TokenRecorder(1), acts[:10])
			if err != nil || ids[0] != 301 || ids[9] != 310 {
				t.Fatalf("the second writer's ids %v, %v; want 301 to 310", ids, err)
			}
			ids, err = s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts[:1])
			if err != nil || ids[0] != 311 {
				t.Fatalf("the first writer after the second: %v, %v; want 311", ids, err)
			}
			head, err := s.TreeHead(ctx)
			if err != nil || head.Size != 311 {
				t.Fatalf("tree head %+v, %v", head, err)
			}
		})
	}
}

// TestAnEventIDRecordedAfterARequestLookedItUpIsFound holds the writer
// while two requests with the same event id look it up (before the queue,
// where neither finds it) and join the queue, each in a group of its own.
// The second to commit must find the first's activity among those
// committed since its lookup: in the first level of the event ids' index,
// or, when the first's commit passed the first level's span, in the next.
func TestAnEventIDRecordedAfterARequestLookedItUpIsFound(t *testing.T) {
	sequencer.SetFirstLevel(t, 100)
	for name, open := range storesOfGroups(1) {
		for _, fill := range []int{10, 95} {
			t.Run(fmt.Sprintf("%s, after %d", name, fill), func(t *testing.T) {
				s := open(t)
				ctx := context.Background()
				var acts []auditlog.NewActivity
				for i := range fill {
					acts = append(acts, login("u", fmt.Sprintf("00000000-0000-4000-8000-%012d", i)))
				}
				if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
					t.Fatal(err)
				}
				held, release := make(chan struct{}), make(chan struct{})
				changed := make(chan error, 1)
				go func() {
					changed <- s.shared.Change(ctx, func(context.Context, sqlstore.Querier) ([]auditlog.NewActivity, error) {
						close(held)
						<-release
						return nil, nil
					})
				}()
				<-held
				// Ten activities each: a commit after 95 passes 100.
				batch := make([]auditlog.NewActivity, 10)
				for i := range batch {
					batch[i] = login("u", fmt.Sprintf("00000000-0000-4000-8000-1%011d", i))
				}
				results := make(chan []int64, 2)
				for range 2 {
					go func() {
						ids, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), batch)
						if err != nil {
							t.Error(err)
						}
						results <- ids
					}()
				}
				time.Sleep(200 * time.Millisecond) // both look up, then wait in the queue
				close(release)
				if err := <-changed; err != nil {
					t.Fatal(err)
				}
				first, second := <-results, <-results
				if !slices.Equal(first, second) {
					t.Fatalf("the same batch was recorded as %v and as %v", first, second)
				}
				head, err := s.TreeHead(ctx)
				if err != nil || head.Size != uint64(fill+len(batch)) {
					t.Fatalf("the log holds %+v (%v), want %d activities", head, err, fill+len(batch))
				}
			})
		}
	}
}

// TestActivityNamesAreReadOnEveryLevel records activities of several
// names, users and objects while the first level of the activity names'
// index (where a store keeps one: SQLite) spans 12 activities, so that its
// entries are in both levels, and reads them back in every way a store
// answers a filter by activity name.
func TestActivityNamesAreReadOnEveryLevel(t *testing.T) {
	sequencer.SetFirstLevel(t, 100)
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			const n, batch = 500, 9
			for b := 0; b < n; b += batch {
				var acts []auditlog.NewActivity
				for i := b; i < min(b+batch, n); i++ {
					acts = append(acts, storetest.SeveralColumns(i))
				}
				if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // the intervals counted need distinct times
			}
			if tables := s.shared.Dialect.ActivityNameTables; tables != nil {
				// The commit of 487-495 passed 492, that of 496-500 no
				// multiple of 12: 496-500 are in the first level.
				var first, last int
				if err := s.shared.Read.QueryRow(ctx, `SELECT count(*) FROM `+tables[0]).Scan(&first); err != nil {
					t.Fatal(err)
				}
				if err := s.shared.Read.QueryRow(ctx, `SELECT count(*) FROM `+tables[1]).Scan(&last); err != nil {
					t.Fatal(err)
				}
				if first != 5 || last != n-5 {
					t.Fatalf("%v hold %d and %d entries, want 5 and %d", tables, first, last, n-5)
				}
			}
			stored, _, err := s.FindActivities(ctx, auditlog.Filter{OldestFirst: true})
			if err != nil || len(stored) != n {
				t.Fatalf("%d activities stored (%v), want %d", len(stored), err, n)
			}
			storetest.CheckActivityNames(t, s, stored)
			storetest.CheckSeveralColumns(t, s, stored)
		})
	}
}

// TestDeferredIndexesAreReadOnEveryLevel moves event ids and object ids
// through every level of their indexes (the first level spans 100
// activities; the others of event ids 400, 1,600 and 6,400, the second of
// object ids 1,600) and reads them from each.
func TestDeferredIndexesAreReadOnEveryLevel(t *testing.T) {
	sequencer.SetFirstLevel(t, 100)
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			event := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
			// 124 batches of 70; activity i+1 has event i. The last level
			// of event ids holds activities 1-6,440 (the commit that passed
			// 6,400 moved every level), the fourth 6,441-8,050 (8,000),
			// the third 8,051-8,400 (8,400), the second 8,401-8,610 and the
			// first 8,611-8,680.
			const batch, n = 70, 124 * 70
			for b := 0; b < n; b += batch {
				acts := make([]auditlog.NewActivity, batch)
				for i := range acts {
					acts[i] = login("u", event(b+i))
					acts[i].ObjectID = strconv.Itoa((b + i) % 7)
				}
				if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts); err != nil {
					t.Fatal(err)
				}
			}
			for _, level := range []struct {
				tables []string
				want   []int
			}{
				{sqlstore.EventIndexTables, []int{70, 210, 350, 1610, 6440}},
				{sqlstore.ObjectIndexTables, []int{70, 560, 8050}},
			} {
				var rows []int
				for _, table := range level.tables {
					var count int
					if err := s.shared.Read.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&count); err != nil {
						t.Fatal(err)
					}
					rows = append(rows, count)
				}
				if !slices.Equal(rows, level.want) {
					t.Fatalf("%v hold %v entries, want %v", level.tables, rows, level.want)
				}
			}
			// An event id of each level, repeated in a batch with a new one.
			again := func(i int) auditlog.NewActivity {
				a := login("u", event(i))
				a.ObjectID = strconv.Itoa(i % 7)
				return a
			}
			ids, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{
				again(17), again(7000), again(8200), again(8500), again(n - 3), again(n + 1)})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{18, 7001, 8201, 8501, n - 2, n + 1}; !slices.Equal(ids, want) {
				t.Fatalf("ids %v, want %v", ids, want)
			}
			for _, probe := range []struct{ event, table string }{
				{event(17), "event_ids"}, {event(7000), "older_event_ids"}, {event(8200), "middle_event_ids"},
				{event(8500), "newer_event_ids"}, {event(n - 3), "recent_event_ids"},
			} {
				var found int
				if err := s.shared.Read.QueryRow(ctx, `SELECT count(*) FROM `+probe.table+` WHERE event_id LIKE '%'||$1`, probe.event).Scan(&found); err != nil {
					t.Fatal(err)
				}
				if found != 1 {
					t.Fatalf("event %s is not in %s", probe.event, probe.table)
				}
			}
			// Activity i+1 has object id i % 7: pages of object 3 span the
			// levels, with and without a cursor.
			want := func(before int64, limit int) []int64 {
				var ids []int64
				for id := before - 1; id > 0 && len(ids) < limit; id-- {
					if (id-1)%7 == 3 && id <= n {
						ids = append(ids, id)
					}
				}
				return ids
			}
			for _, f := range []auditlog.Filter{
				{ObjectIDs: []string{"3"}, Limit: 300},
				{ObjectIDs: []string{"3"}, Limit: 100, BeforeID: n - 1000},
				{ObjectIDs: []string{"3"}, Limit: 1000},
			} {
				acts, _, err := s.FindActivities(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, a := range acts {
					got = append(got, a.ID)
				}
				before := f.BeforeID
				if before == 0 {
					before = n + 1
				}
				if w := want(before, f.Limit); !slices.Equal(got, w) {
					t.Fatalf("object 3, %d before %d: ids %v, want %v", f.Limit, before, got, w)
				}
			}
			counts, err := s.CountActivitiesOverTime(ctx, auditlog.Filter{ObjectIDs: []string{"3"}}, []time.Time{time.Unix(0, 0), time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if wantN := int64(len(want(n+1, n))); counts[0].Human != wantN || counts[0].Machine != 0 {
				t.Fatalf("object 3 counted %+v, want %d by humans", counts[0], wantN)
			}
		})
	}
}
