package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// CheckActivityNames reads filters by activity name from s, which holds
// stored (SeveralColumns' activities, oldest first) and nothing else, in
// every way a store answers them: page by page (pages of 1, 7 and 50),
// oldest first, unpaged, streamed as an export, counted, and counted per
// operator over intervals. It checks each against the reference meaning
// of the filter. A store may keep the index of activity names out of the
// activities table, in levels: s may hold its entries in any of them.
func CheckActivityNames(t *testing.T, s auditlog.Store, stored []auditlog.Activity) {
	t.Helper()
	if len(stored) < 40 {
		t.Fatalf("only %d activities stored", len(stored))
	}
	humans, machines := []auditlog.Operator{auditlog.OperatorHuman}, []auditlog.Operator{auditlog.OperatorMachine}
	early, mid, late := stored[len(stored)/8], stored[len(stored)/2], stored[len(stored)*7/8]
	filters := []auditlog.Filter{
		{Activities: []string{"EDIT_USER"}},
		{Activities: []string{"DOWNLOAD_CSV"}}, // machines only
		{Activities: []string{"USER_LOGIN", "CREATE_USER"}},
		{Activities: columnTypes},
		{Activities: []string{"RESET_MFA"}}, // none recorded
		{Activities: []string{"EDIT_USER"}, Operators: humans},
		{Activities: []string{"EDIT_USER"}, Operators: machines},
		{Activities: []string{"EDIT_USER", "DOWNLOAD_CSV"}, Operators: machines},
		{Activities: []string{"EDIT_USER", "USER_LOGIN"}, Operators: []auditlog.Operator{auditlog.OperatorHuman, auditlog.OperatorMachine}},
		{Activities: []string{"EDIT_USER"}, CreatedFrom: mid.Created},
		{Activities: []string{"EDIT_USER", "CREATE_USER"}, CreatedFrom: early.Created, CreatedTo: late.Created},
		{Activities: []string{"CREATE_USER"}, CreatedTo: early.Created},
		{Activities: []string{"EDIT_USER"}, BeforeID: late.ID},
		{Activities: []string{"EDIT_USER"}, AfterID: mid.ID},
		{Activities: []string{"EDIT_USER"}, Usernames: []string{""}}, // a machine's username
		{Activities: []string{"USER_LOGIN"}, Usernames: []string{"", "bob"}},
		{Activities: []string{"EDIT_USER"}, ObjectIDs: []string{"3"}},
		{Activities: []string{"EDIT_USER", "CREATE_USER"}, ObjectIDs: []string{"3", "4"}, Operators: humans},
		{Activities: []string{"EDIT_USER"}, IDs: []int64{early.ID, mid.ID, late.ID, mid.ID + 1}},
		{Activities: []string{"EDIT_USER"}, ObjectTypes: []string{"Flow"}, Operators: machines},
	}
	ctx := context.Background()
	// Three intervals, the first before every activity.
	bounds := []time.Time{stored[0].Created.Add(-time.Hour), stored[0].Created, mid.Created, late.Created.Add(time.Hour)}
	for i, f := range filters {
		t.Run(fmt.Sprintf("filter %d", i), func(t *testing.T) {
			want := expected(f, stored)
			for _, limit := range []int{1, 7, 50} {
				paged := f
				paged.Limit = limit
				if got := pages(t, s, paged, nil); !slices.Equal(got, want) {
					t.Fatalf("%+v: paged ids %v, want %v", paged, got, want)
				}
				// The first page oldest first.
				paged.OldestFirst = true
				first := expected(paged, stored)
				first = first[:min(limit, len(first))]
				got, _, err := s.FindActivities(ctx, paged)
				if err != nil || !slices.Equal(idsOf(got), first) {
					t.Fatalf("%+v: ids %v (%v), want %v", paged, idsOf(got), err, first)
				}
			}
			got, more, err := s.FindActivities(ctx, f)
			if err != nil || more || !slices.Equal(idsOf(got), want) {
				t.Fatalf("%+v unpaged: ids %v more=%v (%v), want %v", f, idsOf(got), more, err, want)
			}
			var streamed []int64
			if err := s.StreamActivities(ctx, f, func(a *auditlog.Activity) error {
				streamed = append(streamed, a.ID)
				return nil
			}); err != nil || !slices.Equal(streamed, want) {
				t.Fatalf("%+v streamed: ids %v (%v), want %v", f, streamed, err, want)
			}
			// A count honours AfterID, not BeforeID.
			countable := f
			countable.BeforeID = 0
			if n, err := s.CountActivities(ctx, f); err != nil || n != int64(len(expected(countable, stored))) {
				t.Fatalf("%+v counted %d (%v), want %d", f, n, err, len(expected(countable, stored)))
			}
			counts, err := s.CountActivitiesOverTime(ctx, f, bounds)
			if err != nil {
				t.Fatal(err)
			}
			unpaged := f
			unpaged.BeforeID, unpaged.AfterID = 0, 0
			wantCounts := make([]auditlog.OperatorCounts, len(bounds)-1)
			for _, a := range stored {
				for j := range wantCounts {
					if matches(unpaged, a) && !a.Created.Before(bounds[j]) && a.Created.Before(bounds[j+1]) {
						wantCounts[j].Add(a.Operator, 1)
					}
				}
			}
			if !slices.Equal(counts, wantCounts) {
				t.Fatalf("%+v counted over time %v, want %v", f, counts, wantCounts)
			}
		})
	}
}

func testActivityNames(t *testing.T, open Opener) {
	s, stored := openSeveralColumns(t, open)
	CheckActivityNames(t, s, stored)
}
