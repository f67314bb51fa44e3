package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// The values of SeveralColumns' activities, each column with values
// frequent enough that every pair of them has matches, and some that no
// activity of another value has.
var (
	columnTypes       = []string{"EDIT_USER", "CREATE_USER", "USER_LOGIN", "DOWNLOAD_CSV", "EDIT_PERMISSION_GROUP"}
	columnUsers       = []string{"alice", "bob", "carol", "zoë.müller"}
	columnObjectTypes = []string{"User", "PermissionGroup", "Flow"}
)

// manyObjectIDs are SeveralColumns' 11 object ids and 11 more: with its
// three object types, 66 objects, more than a query of the index asks
// for by their facet words.
var manyObjectIDs = func() (ids [22]string) {
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	return ids
}()

// SeveralColumns returns the i-th of a varied sequence of activities for
// CheckSeveralColumns: humans and machines, and some values that only
// one operator or one activity name has (only machines download; carol
// never logs in).
func SeveralColumns(i int) auditlog.NewActivity {
	a := human(columnTypes[i%len(columnTypes)], columnUsers[(i/3)%len(columnUsers)])
	switch {
	case a.SystemName == "DOWNLOAD_CSV" || i%7 == 0:
		a = machine(a.SystemName)
	case a.SystemName == "USER_LOGIN" && a.Username == "carol":
		a.Username = "bob"
	}
	a.ObjectType = columnObjectTypes[(i/2)%len(columnObjectTypes)]
	a.ObjectID = fmt.Sprint(i % 11)
	return a
}

// CheckSeveralColumns lists filters of two and more text columns from s,
// which holds stored (oldest first) and nothing else, page by page (pages
// of 1, 7 and 50, each next page from the cursor of the one before), and
// checks every page against the reference meaning of the filter. A store
// may read such pages from an index it keeps behind the writer: s holds
// the activities of SeveralColumns, and its index as far as the caller
// left it.
func CheckSeveralColumns(t *testing.T, s auditlog.Store, stored []auditlog.Activity) {
	t.Helper()
	if len(stored) < 20 {
		t.Fatalf("only %d activities stored", len(stored))
	}
	humans, machines := []auditlog.Operator{auditlog.OperatorHuman}, []auditlog.Operator{auditlog.OperatorMachine}
	mid, late := stored[len(stored)/2], stored[len(stored)*7/8]
	filters := []auditlog.Filter{
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}},
		{Activities: []string{"EDIT_USER", "CREATE_USER"}, Usernames: []string{"bob"}},
		{Activities: []string{"EDIT_USER", "USER_LOGIN", "CREATE_USER"}, Usernames: []string{"carol", "zoë.müller"}},
		{Activities: []string{"USER_LOGIN"}, Usernames: []string{"carol"}},   // none: carol never logs in
		{Activities: []string{"DOWNLOAD_CSV"}, Usernames: []string{"alice"}}, // none: only machines download
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"nobody"}},   // none: no such user
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, Operators: humans},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, Operators: machines}, // contradictory
		{Activities: []string{"EDIT_USER", "DOWNLOAD_CSV"}, ObjectTypes: []string{"Flow"}},
		{Activities: []string{"DOWNLOAD_CSV"}, ObjectTypes: []string{"User", "Flow"}, Operators: machines},
		{Usernames: []string{"bob"}, ObjectTypes: []string{"PermissionGroup"}},
		{Usernames: []string{"alice", "bob"}, ObjectTypes: []string{"User"}, Activities: []string{"EDIT_USER", "USER_LOGIN"}},
		{Usernames: []string{"bob"}, ObjectTypes: []string{"User"}, CreatedFrom: mid.Created},
		{Usernames: []string{"bob"}, ObjectTypes: []string{"User"}, CreatedTo: mid.Created},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, CreatedFrom: mid.Created, CreatedTo: late.Created},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, BeforeID: late.ID},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, BeforeID: mid.ID},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{""}}, // a machine's username: no facet word
		{Activities: []string{"CREATE_USER"}, ObjectTypes: []string{"User"}, ObjectIDs: []string{"3", "4"}},
		{ObjectTypes: []string{"Flow"}, ObjectIDs: []string{"3"}},
		{ObjectTypes: []string{"User", "Flow"}, ObjectIDs: []string{"3", "10"}},
		{ObjectTypes: []string{"Flow"}, ObjectIDs: []string{"3"}, Usernames: []string{"bob"}},
		{ObjectTypes: columnObjectTypes, ObjectIDs: manyObjectIDs[:], Operators: humans},
		{ObjectIDs: []string{"3"}, Activities: []string{"EDIT_USER", "CREATE_USER"}},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{"alice"}, IDs: []int64{mid.ID, late.ID}},
	}
	for i, f := range filters {
		want := expected(f, stored)
		for _, limit := range []int{1, 7, 50} {
			t.Run(fmt.Sprintf("filter %d, pages of %d", i, limit), func(t *testing.T) {
				f.Limit = limit
				if got := pages(t, s, f, nil); !slices.Equal(got, want) {
					t.Fatalf("%+v: paged ids %v, want %v", f, got, want)
				}
			})
		}
	}
}

func testSeveralColumns(t *testing.T, open Opener) {
	s, stored := openSeveralColumns(t, open)
	CheckSeveralColumns(t, s, stored)
}

// openSeveralColumns opens a store and records 300 of SeveralColumns'
// activities in it, two a minute, so that date filters select part of the
// log; it returns the store and what it holds, oldest first.
func openSeveralColumns(t *testing.T, open Opener) (auditlog.Store, []auditlog.Activity) {
	clock := NewClock(base)
	s := open(t, clock)
	for i := range 300 {
		clock.Set(base.Add(time.Duration(i) * 30 * time.Second))
		record(t, s, SeveralColumns(i))
	}
	stored := all(t, s)
	slices.Reverse(stored)
	return s, stored
}

// AwaitIndexed waits until the store's full-text index holds every
// activity it has recorded.
func AwaitIndexed(t *testing.T, s auditlog.Store) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := s.SearchIndexed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Complete() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index holds the activities up to %d of %d after a minute", st.Through, st.Newest)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
