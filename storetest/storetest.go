// Package storetest is the conformance suite that every auditlog.Store
// implementation runs: the same behaviour on SQLite and on PostgreSQL.
package storetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// Clock is a settable clock for the store under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Opener opens a new, empty store that reads time from clock.
type Opener func(t *testing.T, clock *Clock) auditlog.Store

// Run runs the whole conformance suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"recording returns every field as sent with catalogue names filled in", testRoundTrip},
		{"ids strictly increase under concurrent recording", testConcurrentIDs},
		{"a batch with one bad activity records nothing and names the index", testBatchAllOrNothing},
		{"bad input is refused with the field named", testValidation},
		{"a repeated event_id returns the first id and records nothing new", testIdempotency},
		{"every activity says who recorded it, and its leaf commits to that", testRecordedBy},
		{"witnesses' cosignatures and states are kept", testWitnesses},
		{"created never decreases even when the clock steps back", testMonotonicCreated},
		{"filters select and count exactly what a brute-force scan selects", testFilters},
		{"cursor paging visits every match once while new activities arrive", testPaging},
		{"pages of several columns hold what a brute-force scan selects, with the index where it is", testSeveralColumns},
		{"filters by activity name select and count what a brute-force scan does", testActivityNames},
		{"counts over time match a brute-force count per interval and operator", testCountsOverTime},
		{"a missing activity is not found", testNotFound},
		{"custom activity types can be registered and used", testCustomTypes},
		{"bootstrap creates the admin once", testBootstrap},
		{"tokens authenticate with the scopes their user's group allows", testTokens},
		{"a cancelled request records nothing", testCancelled},
		{"the tree has one leaf per activity, in id order", testTreeCoversActivities},
		{"proofs from stored nodes verify against the tree", testProofs},
		{"checkpoints are kept, one per tree size", testCheckpoints},
	}
	for _, tt := range slices.Concat(tests, accessTests, streamTests, searchTests) {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var base = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func human(system, user string) auditlog.NewActivity {
	return auditlog.NewActivity{SystemName: system, Operator: auditlog.OperatorHuman, Username: user}
}

func machine(system string) auditlog.NewActivity {
	return auditlog.NewActivity{SystemName: system, Operator: auditlog.OperatorMachine}
}

func record(t *testing.T, s auditlog.Store, acts ...auditlog.NewActivity) []int64 {
	t.Helper()
	ids, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), acts)
	if err != nil {
		t.Fatalf("RecordActivities: %v", err)
	}
	if len(ids) != len(acts) {
		t.Fatalf("got %d ids for %d activities", len(ids), len(acts))
	}
	return ids
}

// all lists every stored activity, newest first, through unpaged FindActivities.
func all(t *testing.T, s auditlog.Store) []auditlog.Activity {
	t.Helper()
	acts, more, err := s.FindActivities(context.Background(), auditlog.Filter{})
	if err != nil {
		t.Fatalf("FindActivities: %v", err)
	}
	if more {
		t.Fatal("an unpaged listing reported more")
	}
	return acts
}

func testRoundTrip(t *testing.T, open Opener) {
	clock := NewClock(base.Add(123456789 * time.Nanosecond))
	s := open(t, clock)
	in := auditlog.NewActivity{
		SystemName:        "DOWNLOAD_CSV",
		SubtypeSystemName: "AUDIT_LOG_CSV",
		Operator:          auditlog.OperatorHuman,
		Username:          "jdoe",
		Extra:             json.RawMessage(`{ "z": 1, "browser": "Firefox 131", "nested": {"b": [1, 2.50], "a": "ü"} }`),
		ObjectID:          "17",
		ObjectType:        "PermissionGroup",
		ObjectName:        "Keyers, \"day\" shift",
		Changes: []auditlog.Change{
			{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"},
			{ColumnName: "note", OldValue: "", NewValue: "line 1\nline 2"},
		},
	}
	ids := record(t, s, in)
	got, err := s.FindActivityByID(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := auditlog.Activity{
		ID: ids[0], Created: base.Add(123456 * time.Microsecond), Operator: auditlog.OperatorHuman, Username: "jdoe",
		DisplayName: "Download CSV", SystemName: "DOWNLOAD_CSV",
		SubtypeDisplayName: "Audit Log CSV", SubtypeSystemName: "AUDIT_LOG_CSV",
		Extra:    json.RawMessage(`{"browser":"Firefox 131","nested":{"a":"ü","b":[1,2.5]},"z":1}`),
		ObjectID: "17", ObjectType: "PermissionGroup", ObjectName: "Keyers, \"day\" shift",
		Changes: in.Changes, RecordedBy: auditlog.TokenRecorder(1),
	}
	assertActivity(t, *got, want)

	ids = record(t, s, machine("APPLICATION_UPGRADE"))
	got, err = s.FindActivityByID(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	for _, key := range []string{`"extra":{}`, `"object_column_changes":[]`, `"username":""`, `"activity_subtype_system_name":""`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("machine activity JSON %s lacks %s", b, key)
		}
	}
}

func assertActivity(t *testing.T, got, want auditlog.Activity) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("activity differs:\n got %s\nwant %s", g, w)
	}
}

func testConcurrentIDs(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	const workers, batches, size = 6, 10, 20
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				acts := make([]auditlog.NewActivity, size)
				for i := range acts {
					acts[i] = human("EDIT_USER", fmt.Sprintf("w%d-b%d-%d", w, b, i))
				}
				ids, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), acts)
				if err != nil {
					errs <- err
					return
				}
				if !slices.IsSorted(ids) {
					errs <- fmt.Errorf("ids of one batch not increasing: %v", ids)
					return
				}
				mu.Lock()
				got = append(got, ids...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(got)
	if len(slices.Compact(slices.Clone(got))) != workers*batches*size {
		t.Fatalf("got %d distinct ids, want %d", len(slices.Compact(got)), workers*batches*size)
	}
	stored := all(t, s)
	if len(stored) != workers*batches*size {
		t.Fatalf("stored %d activities, want %d", len(stored), workers*batches*size)
	}
	for i, a := range stored {
		if a.ID != got[len(got)-1-i] {
			t.Fatalf("stored id %d at position %d, want %d", a.ID, i, got[len(got)-1-i])
		}
	}
}

func testBatchAllOrNothing(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	before := record(t, s, human("EDIT_USER", "a"))
	_, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{
		human("EDIT_USER", "b"), human("CREATE_USER", "c"), human("NO_SUCH_ACTIVITY", "d"), human("EDIT_USER", "e"),
	})
	assertFieldError(t, err, 2, "activity_system_name")
	if n := len(all(t, s)); n != 1 {
		t.Fatalf("%d activities stored after a failed batch, want 1", n)
	}
	after := record(t, s, human("EDIT_USER", "f"))
	if after[0] <= before[0] {
		t.Fatalf("id %d after %d", after[0], before[0])
	}
}

func assertFieldError(t *testing.T, err error, index int, field string) {
	t.Helper()
	e, ok := err.(*auditlog.Error)
	if !ok {
		t.Fatalf("got error %v (%T), want *auditlog.Error about %s", err, err, field)
	}
	if e.Code != auditlog.EINVALID || e.Field != field || e.Index != index {
		t.Fatalf("got %s error on field %q index %d (%s), want invalid on %q index %d", e.Code, e.Field, e.Index, e.Message, field, index)
	}
	if e.Message == "" {
		t.Fatal("error without a message")
	}
}

func testValidation(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	long := func(n int) string { return strings.Repeat("x", n) }
	ok := func() auditlog.NewActivity { return human("EDIT_USER", "jdoe") }
	cases := []struct {
		name   string
		mutate func(a *auditlog.NewActivity)
		field  string
	}{
		{"a missing system name", func(a *auditlog.NewActivity) { a.SystemName = "" }, "activity_system_name"},
		{"an unknown system name", func(a *auditlog.NewActivity) { a.SystemName = "EDIT_USERS" }, "activity_system_name"},
		{"a subtype the type does not have", func(a *auditlog.NewActivity) { a.SubtypeSystemName = "AUDIT_LOG_CSV" }, "activity_subtype_system_name"},
		{"a missing operator", func(a *auditlog.NewActivity) { a.Operator = "" }, "operator"},
		{"an unknown operator", func(a *auditlog.NewActivity) { a.Operator = "robot" }, "operator"},
		{"a human without username", func(a *auditlog.NewActivity) { a.Username = "" }, "username"},
		{"a blank username", func(a *auditlog.NewActivity) { a.Username = "   " }, "username"},
		{"a machine with a username", func(a *auditlog.NewActivity) { a.Operator = auditlog.OperatorMachine }, "username"},
		{"a username over its limit", func(a *auditlog.NewActivity) { a.Username = long(auditlog.MaxUsernameLen + 1) }, "username"},
		{"a username with a newline", func(a *auditlog.NewActivity) { a.Username = "j\ndoe" }, "username"},
		{"an object name with NUL", func(a *auditlog.NewActivity) { a.ObjectName = "a\x00b" }, "object_name"},
		{"an object id over its limit", func(a *auditlog.NewActivity) { a.ObjectID = long(auditlog.MaxObjectIDLen + 1) }, "object_id"},
		{"an object type over its limit", func(a *auditlog.NewActivity) { a.ObjectType = long(auditlog.MaxObjectTypeLen + 1) }, "object_type"},
		{"extra that is an array", func(a *auditlog.NewActivity) { a.Extra = json.RawMessage(`[1]`) }, "extra"},
		{"extra that is a string", func(a *auditlog.NewActivity) { a.Extra = json.RawMessage(`"x"`) }, "extra"},
		{"extra over its limit", func(a *auditlog.NewActivity) {
			a.Extra = json.RawMessage(`{"a":"` + long(auditlog.MaxExtraBytes) + `"}`)
		}, "extra"},
		{"a change without column name", func(a *auditlog.NewActivity) {
			a.Changes = []auditlog.Change{{ColumnName: "ok"}, {NewValue: "x"}}
		}, "object_column_changes[1].column_name"},
		{"a change value over its limit", func(a *auditlog.NewActivity) {
			a.Changes = []auditlog.Change{{ColumnName: "c", OldValue: long(auditlog.MaxChangeValueLen + 1)}}
		}, "object_column_changes[0].old_value"},
		{"too many changes", func(a *auditlog.NewActivity) {
			a.Changes = make([]auditlog.Change, auditlog.MaxChanges+1)
		}, "object_column_changes"},
		{"an event id that is not a UUID", func(a *auditlog.NewActivity) { a.EventID = "42" }, "event_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := ok()
			c.mutate(&a)
			_, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{ok(), a})
			assertFieldError(t, err, 1, c.field)
		})
	}
	if _, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), nil); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Errorf("an empty batch: got %v, want invalid", err)
	}
	tooMany := make([]auditlog.NewActivity, auditlog.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = ok()
	}
	if _, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), tooMany); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Errorf("a batch over the limit: got %v, want invalid", err)
	}
	if n := len(all(t, s)); n != 0 {
		t.Fatalf("%d activities stored from bad input", n)
	}
}

func testIdempotency(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	const ev = "3f2b6c1e-8a4d-4f7e-9b1a-2c5d6e7f8a9b"
	a := human("EDIT_USER", "jdoe")
	a.EventID = ev
	first := record(t, s, a)
	a.EventID = strings.ToUpper(ev)
	again := record(t, s, machine("APPLICATION_UPGRADE"), a)
	if again[1] != first[0] {
		t.Fatalf("repeated event_id got id %d, want %d", again[1], first[0])
	}
	b := human("CREATE_USER", "x")
	b.EventID = "00000000-0000-4000-8000-000000000001"
	twice := record(t, s, b, b)
	if twice[0] != twice[1] {
		t.Fatalf("an event_id repeated within a batch got ids %v", twice)
	}
	if n := len(all(t, s)); n != 3 {
		t.Fatalf("%d activities stored, want 3", n)
	}

	// Event ids are the recorder's own: another recorder's same event id
	// is an activity of its own, and never suppressed.
	ctx := context.Background()
	other, err := s.RecordActivities(ctx, auditlog.TokenRecorder(2), []auditlog.NewActivity{a})
	if err != nil || len(other) != 1 || other[0] == first[0] {
		t.Fatalf("the same event_id from another recorder: ids %v, %v; want a new id", other, err)
	}
	byUser, err := s.RecordActivities(ctx, auditlog.UserRecorder("jdoe"), []auditlog.NewActivity{a})
	if err != nil || len(byUser) != 1 || byUser[0] == first[0] || byUser[0] == other[0] {
		t.Fatalf("the same event_id from a user: ids %v, %v; want a new id", byUser, err)
	}
	if again, err := s.RecordActivities(ctx, auditlog.TokenRecorder(2), []auditlog.NewActivity{a}); err != nil || again[0] != other[0] {
		t.Fatalf("the other recorder's retry: ids %v, %v; want %d", again, err, other[0])
	}

	// The same event id for other content, from the same recorder, is
	// refused and records nothing, whether the first is in the store or
	// earlier in the same request.
	changed := a
	changed.ObjectName = "another object"
	c := human("CREATE_USER", "y")
	c.EventID = "00000000-0000-4000-8000-000000000002"
	c2 := c
	c2.Username = "z"
	for _, batch := range [][]auditlog.NewActivity{
		{machine("APPLICATION_UPGRADE"), changed},
		{machine("APPLICATION_UPGRADE"), c, c2},
	} {
		_, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), batch)
		var e *auditlog.Error
		if !errors.As(err, &e) || e.Code != auditlog.ECONFLICT || e.Field != "event_id" || e.Index != len(batch)-1 {
			t.Errorf("an event_id given to other content: got %v, want a conflict on activity %d's event_id", err, len(batch)-1)
		}
	}
	if n := len(all(t, s)); n != 5 {
		t.Fatalf("%d activities stored, want 5: a refused request recorded something", n)
	}
}

func testWitnesses(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	if states, err := s.WitnessStates(ctx); err != nil || len(states) != 0 {
		t.Fatalf("a new store's witnesses: %v, %v", states, err)
	}
	if err := s.SetWitnessState(ctx, auditlog.WitnessState{Witness: "w2", Size: 0, LastError: "connection refused"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []auditlog.Cosignature{{Witness: "w1", Size: 5, Line: "— w1 AAAA\n"}, {Witness: "w2", Size: 5, Line: "— w2 BBBB\n"}, {Witness: "w1", Size: 9, Line: "— w1 CCCC\n"}} {
		if err := s.AddCosignature(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.Cosignatures(ctx, 5)
	if err != nil || len(cs) != 2 || cs[0].Witness != "w1" || cs[0].Line != "— w1 AAAA\n" || cs[1].Line != "— w2 BBBB\n" {
		t.Fatalf("cosignatures of size 5: %+v, %v", cs, err)
	}
	if cs, _ := s.Cosignatures(ctx, 7); len(cs) != 0 {
		t.Fatalf("cosignatures of an uncosigned size: %+v", cs)
	}
	states, err := s.WitnessStates(ctx)
	if err != nil || len(states) != 2 || states[0].Witness != "w1" || states[0].Size != 9 || states[1].Size != 5 || states[1].LastError != "" {
		t.Fatalf("witness states %+v, %v: want w1 at 9, w2 at 5, no errors", states, err)
	}
}

func testRecordedBy(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	for _, by := range []auditlog.Recorder{auditlog.RecordedByService, auditlog.TokenRecorder(42), auditlog.UserRecorder("zoë müller"), auditlog.RecordedByDemo} {
		ids, err := s.RecordActivities(ctx, by, []auditlog.NewActivity{human("EDIT_USER", "jdoe")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindActivityByID(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.RecordedBy != by {
			t.Errorf("recorded by %q, read back as %q", by, got.RecordedBy)
		}
		// The stored leaf commits to the recorder.
		var leaf []byte
		if err := s.StreamLeafHashes(ctx, uint64(ids[0]-1), func(i uint64, h []byte) error {
			if i == uint64(ids[0]-1) {
				leaf = h
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want, err := tlog.ActivityLeafHash(got)
		if err != nil {
			t.Fatal(err)
		}
		forged := *got
		forged.RecordedBy = auditlog.RecordedByService
		if by == auditlog.RecordedByService {
			forged.RecordedBy = auditlog.TokenRecorder(1)
		}
		other, _ := tlog.ActivityLeafHash(&forged)
		if !bytes.Equal(leaf, want) || bytes.Equal(leaf, other) {
			t.Errorf("recorded by %q: the stored leaf does not commit to its recorder", by)
		}
	}
	if _, err := s.RecordActivities(ctx, "", []auditlog.NewActivity{human("EDIT_USER", "jdoe")}); err == nil {
		t.Error("activities without a recorder were recorded")
	}
}

func testMonotonicCreated(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := open(t, clock)
	record(t, s, human("EDIT_USER", "a"))
	clock.Set(base.Add(-time.Hour))
	record(t, s, human("EDIT_USER", "b"))
	acts := all(t, s)
	if acts[0].Created.Before(acts[1].Created) {
		t.Fatalf("created went back: %v after %v", acts[0].Created, acts[1].Created)
	}
}

// fixture records a varied set of activities over several days and returns
// them as stored, oldest first.
func fixture(t *testing.T, s auditlog.Store, clock *Clock) []auditlog.Activity {
	t.Helper()
	types := []string{"EDIT_USER", "CREATE_USER", "USER_LOGIN", "LOGIN_FAILED", "DOWNLOAD_CSV", "EDIT_PERMISSION_GROUP"}
	users := []string{"alice", "bob", "carol", "Dave"}
	objectTypes := []string{"User", "PermissionGroup", "Flow"}
	for i := 0; i < 120; i++ {
		// Four days, with activities at 23:30 UTC and 00:30 UTC to catch off-by-one-day errors.
		clock.Set(base.Add(time.Duration(i) * 47 * time.Minute))
		a := human(types[i%len(types)], users[i%len(users)])
		if i%5 == 0 {
			a = machine(types[(i/5)%len(types)])
		}
		a.ObjectType = objectTypes[i%len(objectTypes)]
		a.ObjectID = fmt.Sprint(i % 7)
		record(t, s, a)
	}
	acts := all(t, s)
	slices.Reverse(acts)
	return acts
}

// matches is the reference meaning of a filter.
func matches(f auditlog.Filter, a auditlog.Activity) bool {
	in := func(vs []string, v string) bool { return len(vs) == 0 || slices.Contains(vs, v) }
	if !in(f.Activities, a.SystemName) || !in(f.Usernames, a.Username) ||
		!in(f.ObjectTypes, a.ObjectType) || !in(f.ObjectIDs, a.ObjectID) {
		return false
	}
	if len(f.Operators) > 0 && !slices.Contains(f.Operators, a.Operator) {
		return false
	}
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, a.ID) {
		return false
	}
	if !f.CreatedFrom.IsZero() && a.Created.Before(f.CreatedFrom) {
		return false
	}
	if !f.CreatedTo.IsZero() && a.Created.After(f.CreatedTo) {
		return false
	}
	return (f.BeforeID == 0 || a.ID < f.BeforeID) && a.ID > f.AfterID
}

func expected(f auditlog.Filter, stored []auditlog.Activity) []int64 {
	var ids []int64
	for _, a := range stored {
		if matches(f, a) {
			ids = append(ids, a.ID)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] != f.OldestFirst })
	return ids
}

func idsOf(acts []auditlog.Activity) []int64 {
	ids := make([]int64, len(acts))
	for i, a := range acts {
		ids[i] = a.ID
	}
	return ids
}

func testFilters(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := open(t, clock)
	stored := fixture(t, s, clock)
	day := func(d int) time.Time { return time.Date(2026, 11, 20+d, 0, 0, 0, 0, time.UTC) }
	endOf := func(d int) time.Time { return day(d + 1).Add(-time.Microsecond) }
	mid := stored[60].ID
	filters := []struct {
		name string
		f    auditlog.Filter
	}{
		{"no filter", auditlog.Filter{}},
		{"one activity name", auditlog.Filter{Activities: []string{"USER_LOGIN"}}},
		{"two activity names", auditlog.Filter{Activities: []string{"USER_LOGIN", "LOGIN_FAILED"}}},
		{"an activity name nobody recorded", auditlog.Filter{Activities: []string{"RESET_MFA"}}},
		{"operator machine", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorMachine}}},
		{"operator human", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorHuman}}},
		{"both operators", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine}}},
		{"a username", auditlog.Filter{Usernames: []string{"bob"}}},
		{"a username in another case", auditlog.Filter{Usernames: []string{"dave"}}},
		{"two usernames", auditlog.Filter{Usernames: []string{"bob", "Dave"}}},
		{"an activity id", auditlog.Filter{IDs: []int64{mid}}},
		{"several activity ids", auditlog.Filter{IDs: []int64{mid, mid + 1, 999999}}},
		{"an object type", auditlog.Filter{ObjectTypes: []string{"Flow"}}},
		{"an object type and id", auditlog.Filter{ObjectTypes: []string{"Flow"}, ObjectIDs: []string{"3"}}},
		{"two object ids", auditlog.Filter{ObjectIDs: []string{"3", "4"}}},
		{"a specific date", auditlog.Filter{CreatedFrom: day(1), CreatedTo: endOf(1)}},
		{"a date range", auditlog.Filter{CreatedFrom: day(1), CreatedTo: endOf(2)}},
		{"from a date on", auditlog.Filter{CreatedFrom: day(2)}},
		{"up to a date", auditlog.Filter{CreatedTo: endOf(1)}},
		{"an exact instant range", auditlog.Filter{CreatedFrom: stored[10].Created, CreatedTo: stored[20].Created}},
		{"a date with no activity", auditlog.Filter{CreatedFrom: day(30), CreatedTo: endOf(30)}},
		{"a date before every activity", auditlog.Filter{CreatedTo: day(-1)}},
		{"activity, operator and username", auditlog.Filter{Activities: []string{"EDIT_USER", "CREATE_USER"}, Operators: []auditlog.Operator{auditlog.OperatorHuman}, Usernames: []string{"alice", "carol"}}},
		{"activity names and a date range", auditlog.Filter{Activities: []string{"USER_LOGIN", "DOWNLOAD_CSV"}, CreatedFrom: day(1), CreatedTo: endOf(2)}},
		{"username and id", auditlog.Filter{Usernames: []string{"bob"}, IDs: []int64{stored[1].ID, stored[2].ID}}},
		{"an activity name and a username", auditlog.Filter{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}}},
		{"two activity names, a username and a date range", auditlog.Filter{Activities: []string{"EDIT_USER", "USER_LOGIN"}, Usernames: []string{"bob"}, CreatedFrom: day(1), CreatedTo: endOf(2)}},
		{"an object type and two usernames", auditlog.Filter{ObjectTypes: []string{"Flow"}, Usernames: []string{"alice", "bob"}}},
		{"an object id and an activity name", auditlog.Filter{ObjectIDs: []string{"3"}, Activities: []string{"EDIT_USER", "USER_LOGIN"}}},
		{"after an id", auditlog.Filter{AfterID: mid}},
		{"after an id, oldest first, with a username and dates", auditlog.Filter{AfterID: mid, OldestFirst: true, Usernames: []string{"bob"}, CreatedFrom: day(1)}},
		{"contradictory machine with username", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorMachine}, Usernames: []string{"bob"}}},
	}
	for _, fc := range filters {
		for _, limit := range []int{0, 5} {
			t.Run(fmt.Sprintf("%s, limit %d", fc.name, limit), func(t *testing.T) {
				f := fc.f
				f.Limit = limit
				want := expected(f, stored)
				got, more, err := s.FindActivities(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				wantMore := false
				if limit > 0 && len(want) > limit {
					want, wantMore = want[:limit], true
				}
				if !slices.Equal(idsOf(got), want) || more != wantMore {
					t.Fatalf("got ids %v more=%v, want %v more=%v", idsOf(got), more, want, wantMore)
				}
				unpaged := fc.f
				if n, err := s.CountActivities(context.Background(), f); err != nil || n != int64(len(expected(unpaged, stored))) {
					t.Fatalf("CountActivities: %d (%v), want %d", n, err, len(expected(unpaged, stored)))
				}
			})
		}
	}
}

func testPaging(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := open(t, clock)
	stored := fixture(t, s, clock)
	for _, f := range []auditlog.Filter{
		{Activities: []string{"EDIT_USER", "USER_LOGIN"}, Limit: 3},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice", "carol"}, Limit: 2},
		{ObjectIDs: []string{"3", "4"}, Limit: 2},
	} {
		pageThrough(t, s, f, expected(f, stored))
	}
}

// pageThrough lists f page by page, recording an activity between pages,
// and checks that the pages hold want.
func pageThrough(t *testing.T, s auditlog.Store, f auditlog.Filter, want []int64) {
	t.Helper()
	// New activities arrive between pages: they must not shift the listing.
	got := pages(t, s, f, func() { record(t, s, human("EDIT_USER", "late")) })
	if !slices.Equal(got, want) {
		t.Fatalf("%+v: paged ids %v, want %v", f, got, want)
	}
}

// pages lists f page by page, each next page from the cursor of the one
// before, calls between (if set) after each page, and returns the ids of
// every page, in order.
func pages(t *testing.T, s auditlog.Store, f auditlog.Filter, between func()) []int64 {
	t.Helper()
	var got []int64
	for page := 0; ; page++ {
		acts, more, err := s.FindActivities(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) > f.Limit {
			t.Fatalf("a page of %d holds %d", f.Limit, len(acts))
		}
		got = append(got, idsOf(acts)...)
		if between != nil {
			between()
		}
		if !more {
			return got
		}
		if len(acts) == 0 || page > 10_000 {
			t.Fatalf("paging does not end: page %d of %d activities says there are more", page, len(acts))
		}
		cursor := auditlog.EncodeCursor(acts[len(acts)-1].ID)
		if f.BeforeID, err = auditlog.DecodeCursor(cursor); err != nil {
			t.Fatal(err)
		}
	}
}

func testNotFound(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	_, err := s.FindActivityByID(context.Background(), 12345)
	if auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("got %v, want not_found", err)
	}
}

func testCustomTypes(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	ct, err := s.CreateActivityType(ctx, cli, auditlog.ActivityType{
		DisplayName: "Approve Invoice", Description: "An invoice is approved",
		Subtypes: []auditlog.Subtype{{DisplayName: "By Rule"}, {SystemName: "MANUAL", DisplayName: "Manually"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct.SystemName != "APPROVE_INVOICE" || ct.Subtypes[0].SystemName != "BY_RULE" || !ct.Custom {
		t.Fatalf("registered %+v", ct)
	}
	wantActivity(t, lastActivities(t, s, 1)[0], "CREATE_ACTIVITY_TYPE", cli, auditlog.ObjectTypeActivityType, "Approve Invoice",
		[]auditlog.Change{{ColumnName: "system_name", NewValue: "APPROVE_INVOICE"}, {ColumnName: "display_name", NewValue: "Approve Invoice"},
			{ColumnName: "description", NewValue: "An invoice is approved"}, {ColumnName: "subtypes", NewValue: "BY_RULE,MANUAL"}})
	before := countActivities(t, s)
	a := human("APPROVE_INVOICE", "jdoe")
	a.SubtypeSystemName = "MANUAL"
	ids := record(t, s, a)
	got, err := s.FindActivityByID(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Approve Invoice" || got.SubtypeDisplayName != "Manually" {
		t.Fatalf("recorded %+v", got)
	}
	for _, dup := range []auditlog.ActivityType{{DisplayName: "Approve invoice"}, {DisplayName: "Edit User"}} {
		if _, err := s.CreateActivityType(ctx, cli, dup); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
			t.Errorf("registering %q again: got %v, want conflict", dup.DisplayName, err)
		}
	}
	if _, err := s.CreateActivityType(ctx, cli, auditlog.ActivityType{SystemName: "lower_case", DisplayName: "x"}); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Errorf("a malformed system name: got %v, want invalid", err)
	}
	if n := countActivities(t, s) - before; n != 1 {
		t.Errorf("%d activities after recording one and three refused registrations, want 1", n)
	}
	types, err := s.ActivityTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, tt := range types {
		if tt.SystemName == "APPROVE_INVOICE" || tt.SystemName == "EDIT_USER" {
			found++
		}
	}
	if found != 2 || len(types) < 250 {
		t.Fatalf("ActivityTypes lists %d types, found %d of the 2 expected", len(types), found)
	}
}

func testBootstrap(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	created, err := s.Bootstrap(ctx, "hash-1")
	if err != nil || !created {
		t.Fatalf("first bootstrap: created=%v err=%v", created, err)
	}
	created, err = s.Bootstrap(ctx, "hash-2")
	if err != nil || created {
		t.Fatalf("second bootstrap: created=%v err=%v", created, err)
	}
	if _, err := s.CreateGroup(ctx, cli, "system admin", nil); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("a group named like System Admin: got %v, want conflict", err)
	}
	if _, err := s.CreateUser(ctx, cli, "ADMIN", auditlog.SystemAdminGroup, "h"); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("a user named like admin: got %v, want conflict", err)
	}
}

func testTokens(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := open(t, clock)
	ctx := context.Background()
	all := []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesExport, auditlog.PermAdmin}
	if _, err := s.CreateGroup(ctx, cli, "Auditors", all); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, cli, "audrey", "Nobody", "h"); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Fatalf("a user in a missing group: got %v, want invalid", err)
	}
	if _, err := s.CreateUser(ctx, cli, "audrey", "Auditors", "h"); err != nil {
		t.Fatal(err)
	}
	userSecret, machineSecret, expiring := auditlog.GenerateTokenSecret(), auditlog.GenerateTokenSecret(), auditlog.GenerateTokenSecret()
	if _, err := s.CreateToken(ctx, cli, auditlog.NewToken{Name: "audrey's", Scopes: all, Username: "audrey"}, userSecret); err != nil {
		t.Fatal(err)
	}
	// The group loses permissions after the token was made: the token
	// keeps only what the group still holds.
	readOnly := []auditlog.Permission{auditlog.PermActivitiesRead}
	if _, err := s.UpdateGroup(ctx, cli, "Auditors", auditlog.GroupChange{Permissions: &readOnly}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, cli, auditlog.NewToken{Name: "ingest", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite}}, machineSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, cli, auditlog.NewToken{Name: "short", Scopes: all[:1], Expires: base.Add(time.Hour)}, expiring); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, cli, auditlog.NewToken{Name: "x", Scopes: all, Username: "ghost"}, auditlog.GenerateTokenSecret()); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Fatalf("a token for a missing user: got %v, want invalid", err)
	}

	p, err := s.Authenticate(ctx, userSecret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "audrey" || p.Operator() != auditlog.OperatorHuman || !slices.Equal(p.Permissions, []auditlog.Permission{auditlog.PermActivitiesRead}) {
		t.Fatalf("user token principal %+v: want audrey with activities:read only", p)
	}
	p, err = s.Authenticate(ctx, machineSecret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ingest" || p.Operator() != auditlog.OperatorMachine || !p.Can(auditlog.PermActivitiesWrite) || p.Can(auditlog.PermActivitiesRead) {
		t.Fatalf("machine token principal %+v", p)
	}
	if _, err := s.Authenticate(ctx, expiring); err != nil {
		t.Fatalf("unexpired token: %v", err)
	}
	clock.Set(base.Add(time.Hour))
	for name, secret := range map[string]string{"expired": expiring, "unknown": auditlog.GenerateTokenSecret(), "empty": ""} {
		if _, err := s.Authenticate(ctx, secret); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
			t.Errorf("%s token: got %v, want unauthorized", name, err)
		}
	}
}

func testCancelled(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{human("EDIT_USER", "a")}); err == nil {
		t.Fatal("a cancelled request succeeded")
	}
	if n := len(all(t, s)); n != 0 {
		t.Fatalf("%d activities stored by a cancelled request", n)
	}
}

// rebuild recomputes the tree from the stored activities and returns the
// root of every prefix: roots[n] is the root of the first n leaves.
func rebuild(t *testing.T, s auditlog.Store) (leaves [][]byte, roots [][]byte) {
	t.Helper()
	acts := all(t, s)
	slices.Reverse(acts)
	tree := tlog.NewTree()
	roots = [][]byte{tree.Root()}
	for i := range acts {
		if acts[i].ID != int64(i+1) {
			t.Fatalf("activity at position %d has id %d: ids are not contiguous", i, acts[i].ID)
		}
		leaf, err := tlog.ActivityLeafHash(&acts[i])
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		if err := tree.Append(leaf); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, tree.Root())
	}
	return leaves, roots
}

func testTreeCoversActivities(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	head, err := s.TreeHead(ctx)
	if err != nil || head.Size != 0 || !slices.Equal(head.Root, tlog.EmptyRoot()) {
		t.Fatalf("empty store: head %+v, %v", head, err)
	}
	dup := human("EDIT_USER", "a")
	dup.EventID = "00000000-0000-4000-8000-00000000000a"
	record(t, s, dup, machine("APPLICATION_UPGRADE"))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				batch := []auditlog.NewActivity{human("EDIT_USER", fmt.Sprint(w, i)), dup}
				if i%3 == 0 {
					batch = append(batch, human("NO_SUCH_TYPE", "x")) // fails: nothing of it may reach the tree
				}
				s.RecordActivities(ctx, auditlog.TokenRecorder(1), batch)
			}
		}()
	}
	wg.Wait()
	leaves, roots := rebuild(t, s)
	head, err = s.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != uint64(len(leaves)) || !slices.Equal(head.Root, roots[len(leaves)]) {
		t.Fatalf("tree head %d %x; the activities give %d %x", head.Size, head.Root, len(leaves), roots[len(leaves)])
	}
	var stored [][]byte
	if err := s.StreamLeafHashes(ctx, 0, func(i uint64, h []byte) error {
		if i != uint64(len(stored)) {
			t.Fatalf("leaf %d after %d leaves", i, len(stored))
		}
		stored = append(stored, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range leaves {
		if !slices.Equal(stored[i], leaves[i]) {
			t.Fatalf("stored leaf %d differs from the leaf of activity %d", i, i+1)
		}
	}
}

func testProofs(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	for i := range 37 {
		acts := make([]auditlog.NewActivity, 1+i%5)
		for j := range acts {
			acts[j] = human("EDIT_USER", fmt.Sprint(i, j))
		}
		record(t, s, acts...)
	}
	leaves, roots := rebuild(t, s)
	fetch := func(ids []auditlog.NodeID) ([][]byte, error) { return s.TreeNodes(ctx, ids) }
	n := uint64(len(leaves))
	for _, size := range []uint64{1, 2, 3, 8, 17, n - 1, n} {
		for _, index := range []uint64{0, size / 2, size - 1} {
			p, err := tlog.InclusionProof(index, size, fetch)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.VerifyInclusion(index, size, leaves[index], p, roots[size]); err != nil {
				t.Fatalf("inclusion of leaf %d in tree %d: %v", index, size, err)
			}
		}
		for _, size1 := range []uint64{1, size / 3, size} {
			if size1 == 0 {
				continue
			}
			p, err := tlog.ConsistencyProof(size1, size, fetch)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.VerifyConsistency(size1, size, p, roots[size1], roots[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", size1, size, err)
			}
		}
	}
	if _, err := s.TreeNodes(ctx, []auditlog.NodeID{{Level: 0, Index: n}}); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("a node beyond the tree: got %v, want not_found", err)
	}
}

func testCheckpoints(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	if _, err := s.LatestCheckpoint(ctx); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("no checkpoint yet: got %v, want not_found", err)
	}
	mk := func(size uint64, note string) auditlog.Checkpoint {
		return auditlog.Checkpoint{TreeHead: auditlog.TreeHead{Size: size, Root: []byte(fmt.Sprintf("%032d", size))}, Note: []byte(note), Created: base}
	}
	for _, c := range []auditlog.Checkpoint{mk(5, "five"), mk(2, "two"), mk(5, "five again"), mk(9, "nine")} {
		if err := s.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestCheckpoint(ctx)
	if err != nil || latest.Size != 9 || string(latest.Note) != "nine" {
		t.Fatalf("latest %+v, %v", latest, err)
	}
	five, err := s.FindCheckpoint(ctx, 5)
	if err != nil || string(five.Note) != "five" || !five.Created.Equal(base) {
		t.Fatalf("checkpoint 5: %+v, %v (the first one must be kept)", five, err)
	}
	if _, err := s.FindCheckpoint(ctx, 3); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("checkpoint 3: got %v, want not_found", err)
	}
	list, err := s.Checkpoints(ctx)
	if err != nil || len(list) != 3 || list[0].Size != 2 || list[2].Size != 9 {
		t.Fatalf("checkpoints %+v, %v", list, err)
	}
}

func testCountsOverTime(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := open(t, clock)
	stored := fixture(t, s, clock)
	hour := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	// Six-hour intervals over the fixture's four days, with one interval
	// before its first and one after its last activity.
	var sixHours []time.Time
	for h := -6; h <= 102; h += 6 {
		sixHours = append(sixHours, hour(h))
	}
	cases := []struct {
		name   string
		f      auditlog.Filter
		bounds []time.Time
	}{
		{"no filter", auditlog.Filter{}, sixHours},
		{"one activity name", auditlog.Filter{Activities: []string{"USER_LOGIN"}}, sixHours},
		{"two activity names", auditlog.Filter{Activities: []string{"USER_LOGIN", "LOGIN_FAILED"}}, sixHours},
		{"operator machine", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorMachine}}, sixHours},
		{"operator human and a username", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorHuman}, Usernames: []string{"bob"}}, sixHours},
		{"two usernames", auditlog.Filter{Usernames: []string{"bob", "Dave"}}, sixHours},
		{"a username and operator machine", auditlog.Filter{Operators: []auditlog.Operator{auditlog.OperatorMachine}, Usernames: []string{"bob"}}, sixHours},
		{"an activity name and a username", auditlog.Filter{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}}, sixHours},
		{"activity ids", auditlog.Filter{IDs: []int64{stored[3].ID, stored[5].ID, stored[70].ID}}, sixHours},
		{"a date range inside the intervals", auditlog.Filter{CreatedFrom: hour(20), CreatedTo: hour(50)}, sixHours},
		{"a date range with no activity", auditlog.Filter{CreatedFrom: hour(200), CreatedTo: hour(300)}, sixHours},
		{"paging fields are ignored", auditlog.Filter{BeforeID: stored[10].ID, AfterID: stored[2].ID, Limit: 3, OldestFirst: true}, sixHours},
		{"bounds at exact creation times", auditlog.Filter{}, []time.Time{stored[0].Created, stored[1].Created, stored[50].Created, stored[119].Created}},
		{"one interval", auditlog.Filter{}, []time.Time{hour(-1), hour(1000)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.CountActivitiesOverTime(context.Background(), c.f, c.bounds)
			if err != nil {
				t.Fatal(err)
			}
			ref := c.f
			ref.BeforeID, ref.AfterID, ref.Limit, ref.OldestFirst = 0, 0, 0, false
			want := make([]auditlog.OperatorCounts, len(c.bounds)-1)
			for _, a := range stored {
				if !matches(ref, a) {
					continue
				}
				for i := range want {
					if !a.Created.Before(c.bounds[i]) && a.Created.Before(c.bounds[i+1]) {
						if a.Operator == auditlog.OperatorHuman {
							want[i].Human++
						} else {
							want[i].Machine++
						}
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
	t.Run("fewer than two bounds count nothing", func(t *testing.T) {
		got, err := s.CountActivitiesOverTime(context.Background(), auditlog.Filter{}, []time.Time{base})
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want no counts", got, err)
		}
	})
	t.Run("bounds that do not increase are refused", func(t *testing.T) {
		_, err := s.CountActivitiesOverTime(context.Background(), auditlog.Filter{}, []time.Time{hour(2), hour(1)})
		if auditlog.ErrorCode(err) != auditlog.EINVALID {
			t.Fatalf("got %v, want an EINVALID error", err)
		}
	})
}

// CheckMigratedStore checks a store that an earlier version wrote, once
// opened by this one: its tree has the size and root it had (hex), every
// activity is still the leaf the tree holds (without a recorder), the
// event ids it recorded, whose recorder is unknown, match no retry, and
// recording goes on after them.
// The activities are those of the fixtures: logins whose event id ends in
// their index (from 0), which is their id − 1.
func CheckMigratedStore(t *testing.T, s auditlog.Store, size uint64, root string) {
	t.Helper()
	ctx := context.Background()
	head, err := s.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != size || hex.EncodeToString(head.Root) != root {
		t.Fatalf("tree after the migration: size %d, root %x; want %d, %s", head.Size, head.Root, size, root)
	}
	_, roots := rebuild(t, s)
	if !bytes.Equal(roots[len(roots)-1], head.Root) {
		t.Fatal("the stored tree is not the tree of the stored activities")
	}
	// The activities recorded before provenance was kept have no recorder,
	// and their leaves none either (the tree above matched them).
	legacy := 0
	if err := s.StreamActivities(ctx, auditlog.Filter{}, func(a *auditlog.Activity) error {
		if a.RecordedBy == "" {
			legacy++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if legacy != int(size) {
		t.Fatalf("%d of the %d migrated activities have no recorder", legacy, size)
	}
	// Their event ids had no known recorder: a retry cannot match them,
	// and records an activity of its own, which its own retry matches.
	again := auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: "user5",
		ObjectID: "5", ObjectType: "User", EventID: "00000000-0000-4000-8000-000000000005"}
	for range 2 {
		ids, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{again})
		if err != nil || len(ids) != 1 || ids[0] != int64(size)+1 {
			t.Fatalf("an event id recorded before the migration: ids %v, %v; want %d", ids, err, size+1)
		}
	}
	again.EventID = "00000000-0000-4000-8000-999999999999"
	ids, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), []auditlog.NewActivity{again})
	if err != nil || len(ids) != 1 || ids[0] != int64(size)+2 {
		t.Fatalf("the second activity after the migration: ids %v, %v; want %d", ids, err, size+2)
	}
	// Object ids recorded before the migration are found with those after.
	var want []int64
	err = s.StreamActivities(ctx, auditlog.Filter{}, func(a *auditlog.Activity) error {
		if a.ObjectID == "5" {
			want = append(want, a.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.FindActivities(ctx, auditlog.Filter{ObjectIDs: []string{"5"}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 2 || !slices.Equal(idsOf(got), want) {
		t.Fatalf("object 5 after the migration: ids %v, want %v", idsOf(got), want)
	}
	checkMigratedSearch(t, s)
}

// checkMigratedSearch checks that the migration indexed what was recorded
// before it: a word of the first activity, and its negation, select what
// the brute-force matcher selects.
func checkMigratedSearch(t *testing.T, s auditlog.Store) {
	t.Helper()
	ctx := context.Background()
	var all []auditlog.Activity
	if err := s.StreamActivities(ctx, auditlog.Filter{OldestFirst: true}, func(a *auditlog.Activity) error {
		all = append(all, *a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	word := auditlog.Words(all[0].Username)[0]
	for _, expr := range []string{word, "-" + word, "user:" + all[0].Username + " " + word} {
		search, err := auditlog.ParseSearch(expr, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for i := len(all) - 1; i >= 0; i-- {
			if search.Matches(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		got, _, err := s.FindActivities(ctx, auditlog.Filter{Search: search, Limit: 1000})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if expr == word && (len(want) == 0 || len(want) == len(all)) {
			t.Fatalf("%q matches %d of %d activities: the check proves nothing", expr, len(want), len(all))
		}
		if !slices.Equal(idsOf(got), want) {
			t.Fatalf("search %q after the migration: ids %v, want %v", expr, idsOf(got), want)
		}
	}
}
