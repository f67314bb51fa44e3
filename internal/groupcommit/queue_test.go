package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// job is a test job: n rows, an id that tells the order, and the outcome
// the commit leaves in it.
type job struct {
	id   int
	rows int
	fail bool // the commit refuses this job alone

	committed bool
	err       error
}

// recorder is a Commit function that keeps every group it was handed, and
// can be held so that jobs pile up behind a commit in flight.
type recorder struct {
	mu     sync.Mutex
	groups [][]int
	hold   chan struct{} // when set, the first commit waits for it to close
	held   chan struct{} // closed when the first commit is waiting
}

func (r *recorder) commit(group []*job) {
	r.mu.Lock()
	first := len(r.groups) == 0
	ids := make([]int, len(group))
	for i, j := range group {
		ids[i] = j.id
	}
	r.groups = append(r.groups, ids)
	r.mu.Unlock()
	if first && r.hold != nil {
		close(r.held)
		<-r.hold
	}
	for _, j := range group {
		if j.fail {
			j.err = errors.New("refused")
			continue
		}
		j.committed = true
	}
}

func (r *recorder) snapshot() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int(nil), r.groups...)
}

func newQueue(r *recorder, maxRows int) *Queue[*job] {
	return New(Config[*job]{
		MaxRows: maxRows,
		Rows:    func(j *job) int { return j.rows },
		Commit:  r.commit,
	})
}

// holdFirst makes the recorder's first commit wait until release is
// called, and returns once that commit is in flight.
func holdFirst(t *testing.T, q *Queue[*job], r *recorder) (release func()) {
	t.Helper()
	r.hold, r.held = make(chan struct{}), make(chan struct{})
	first := &job{id: 0, rows: 1}
	done := make(chan error, 1)
	go func() { done <- q.Submit(context.Background(), first) }()
	<-r.held
	return func() {
		close(r.hold)
		if err := <-done; err != nil || !first.committed {
			t.Errorf("the held job: err %v, committed %v", err, first.committed)
		}
	}
}

// submitInOrder submits the jobs one after another from separate
// goroutines, each handed over before the next starts, and returns a
// function that waits for all their outcomes.
func submitInOrder(t *testing.T, q *Queue[*job], jobs []*job) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for _, j := range jobs {
		before := len(q.jobs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Submit(context.Background(), j); err != nil {
				t.Errorf("job %d: %v", j.id, err)
			}
		}()
		for len(q.jobs) == before {
			time.Sleep(time.Millisecond)
		}
	}
	return wg.Wait
}

func TestJobsThatArriveDuringACommitShareTheNextOneInOrder(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 1000)
	defer q.Close()
	release := holdFirst(t, q, r)
	jobs := []*job{{id: 1, rows: 1}, {id: 2, rows: 1}, {id: 3, rows: 1}}
	wait := submitInOrder(t, q, jobs)
	release()
	wait()
	got := r.snapshot()
	if len(got) != 2 || len(got[1]) != 3 || got[1][0] != 1 || got[1][1] != 2 || got[1][2] != 3 {
		t.Fatalf("groups %v, want [[0] [1 2 3]]", got)
	}
	for _, j := range jobs {
		if !j.committed {
			t.Errorf("job %d was not committed", j.id)
		}
	}
}

func TestAGroupHoldsAtMostMaxRowsButAlwaysOneJob(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 10)
	defer q.Close()
	release := holdFirst(t, q, r)
	// 4+4 fit; the third 4 would make 12, so it waits for the next group,
	// and a job larger than the bound still goes alone.
	jobs := []*job{{id: 1, rows: 4}, {id: 2, rows: 4}, {id: 3, rows: 4}, {id: 4, rows: 50}, {id: 5, rows: 1}}
	wait := submitInOrder(t, q, jobs)
	release()
	wait()
	got := r.snapshot()
	var order []int
	for _, g := range got[1:] {
		rows := 0
		for _, id := range g {
			order = append(order, id)
			rows += jobs[id-1].rows
		}
		if len(g) > 1 && rows-jobs[g[len(g)-1]-1].rows >= 10 {
			t.Errorf("group %v went on after reaching 10 rows", g)
		}
	}
	for i, id := range order {
		if id != i+1 {
			t.Fatalf("jobs committed in the order %v, want 1 to 5", order)
		}
	}
	if len(got[1]) != 3 || got[1][2] != 3 {
		t.Errorf("first group after the held commit %v: the 4+4 rows are under the bound, so the third job joins them and closes the group", got[1])
	}
}

func TestAFailingJobLeavesTheOthersOfItsGroupCommitted(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 1000)
	defer q.Close()
	release := holdFirst(t, q, r)
	jobs := []*job{{id: 1, rows: 1}, {id: 2, rows: 1, fail: true}, {id: 3, rows: 1}}
	wait := submitInOrder(t, q, jobs)
	release()
	wait()
	if got := r.snapshot(); len(got) != 2 || len(got[1]) != 3 {
		t.Fatalf("groups %v, want the three jobs in one group", got)
	}
	if !jobs[0].committed || !jobs[2].committed || jobs[0].err != nil || jobs[2].err != nil {
		t.Errorf("the good jobs: %+v %+v", jobs[0], jobs[2])
	}
	if jobs[1].committed || jobs[1].err == nil {
		t.Errorf("the failing job: %+v", jobs[1])
	}
}

func TestACancelledSubmitterThatWasNotHandedOverIsNeverCommitted(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 1000)
	defer q.Close()
	release := holdFirst(t, q, r)
	// Fill the channel so that the next submitter has to wait.
	var fill []*job
	for i := range cap(q.jobs) {
		fill = append(fill, &job{id: 100 + i, rows: 0})
	}
	var wg sync.WaitGroup
	for _, j := range fill {
		wg.Add(1)
		go func() { defer wg.Done(); _ = q.Submit(context.Background(), j) }()
	}
	for len(q.jobs) < cap(q.jobs) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	late := &job{id: 1, rows: 1}
	errc := make(chan error, 1)
	go func() { errc <- q.Submit(ctx, late) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit of a cancelled job: %v, want context.Canceled", err)
	}
	release()
	wg.Wait()
	for _, g := range r.snapshot() {
		for _, id := range g {
			if id == late.id {
				t.Fatal("the cancelled job was committed")
			}
		}
	}
	if late.committed {
		t.Fatal("the cancelled job was committed")
	}
}

func TestASubmitterCancelledAfterTheHandoverWaitsForTheOutcome(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 1000)
	defer q.Close()
	release := holdFirst(t, q, r)
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{id: 1, rows: 1}
	errc := make(chan error, 1)
	go func() { errc <- q.Submit(ctx, j) }()
	for len(q.jobs) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		t.Fatalf("Submit returned %v before its job's commit", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if err := <-errc; err != nil || !j.committed {
		t.Fatalf("Submit: %v, committed %v; want the commit's outcome", err, j.committed)
	}
}

func TestCloseCommitsWhatIsQueuedAndRefusesNewJobs(t *testing.T) {
	r := &recorder{}
	q := newQueue(r, 1000)
	release := holdFirst(t, q, r)
	jobs := []*job{{id: 1, rows: 1}, {id: 2, rows: 1}}
	wait := submitInOrder(t, q, jobs)
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	release()
	<-closed
	wait()
	for _, j := range jobs {
		if !j.committed {
			t.Errorf("job %d, queued before Close, was not committed", j.id)
		}
	}
	err := q.Submit(context.Background(), &job{id: 3, rows: 1})
	if auditlog.ErrorCode(err) != auditlog.EUNAVAILABLE {
		t.Fatalf("Submit after Close: %v, want EUNAVAILABLE", err)
	}
	q.Close() // a second Close returns at once
}

func TestAfterCommitRunsOnceTheGroupIsAcknowledged(t *testing.T) {
	var mu sync.Mutex
	var events []string
	q := New(Config[*job]{
		MaxRows: 10,
		Rows:    func(j *job) int { return j.rows },
		Commit: func(group []*job) {
			mu.Lock()
			events = append(events, "commit")
			mu.Unlock()
		},
		AfterCommit: func() {
			mu.Lock()
			events = append(events, "after")
			mu.Unlock()
		},
	})
	if err := q.Submit(context.Background(), &job{id: 1, rows: 1}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] != "commit" || events[1] != "after" {
		t.Fatalf("events %v, want [commit after]", events)
	}
}
