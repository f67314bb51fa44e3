// Package groupcommit hands write jobs to one goroutine, which commits
// together the jobs that arrived while the previous commit was in flight:
// one transaction, and one fsync, acknowledge them all.
package groupcommit

import (
	"context"
	"sync"

	"github.com/auditlog/auditlog"
)

// Queue hands jobs to one goroutine, which commits them in groups, in the
// order they were submitted.
type Queue[J any] struct {
	maxRows int
	rows    func(J) int
	commit  func(group []J)
	after   func()
	jobs    chan queued[J]

	mu      sync.RWMutex // held for reading while submitting; for writing by Close
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

type queued[J any] struct {
	job  J
	done chan struct{}
}

// Config configures a Queue.
type Config[J any] struct {
	// MaxRows bounds a group: it takes no more jobs once it holds MaxRows
	// rows, as Rows counts them (so a group holds at least one job, and at
	// most MaxRows rows plus those of its last job).
	MaxRows int
	Rows    func(J) int
	// Commit writes a group of jobs and leaves each one's outcome in it.
	Commit func(group []J)
	// AfterCommit, if set, runs after the group's submitters are woken.
	AfterCommit func()
}

// NewQueue starts the goroutine that commits the jobs.
func New[J any](cfg Config[J]) *Queue[J] {
	q := &Queue[J]{
		maxRows: cfg.MaxRows,
		rows:    cfg.Rows,
		commit:  cfg.Commit,
		after:   cfg.AfterCommit,
		jobs:    make(chan queued[J], 1024),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go q.run()
	return q
}

// Submit hands job to the committing goroutine and waits until its group
// was committed (or failed); the outcome is in the job. It fails only when
// the queue is closing or ctx ends before the job is handed over.
func (q *Queue[J]) Submit(ctx context.Context, job J) error {
	item := queued[J]{job: job, done: make(chan struct{})}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "store is closing")
	}
	select {
	case q.jobs <- item:
	case <-ctx.Done():
		q.mu.RUnlock()
		return ctx.Err()
	}
	q.mu.RUnlock()
	<-item.done
	return nil
}

// Close stops accepting jobs and returns once those already queued are committed.
func (q *Queue[J]) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.stopped
}

func (q *Queue[J]) run() {
	defer close(q.stopped)
	for {
		var first queued[J]
		select {
		case first = <-q.jobs:
		case <-q.stop:
			// Every submitter finished sending before stop was closed.
			for {
				select {
				case item := <-q.jobs:
					q.commitGroup([]queued[J]{item})
				default:
					return
				}
			}
		}
		group := []queued[J]{first}
		rows := q.rows(first.job)
	drain:
		for rows < q.maxRows {
			select {
			case item := <-q.jobs:
				group = append(group, item)
				rows += q.rows(item.job)
			default:
				break drain
			}
		}
		q.commitGroup(group)
	}
}

func (q *Queue[J]) commitGroup(group []queued[J]) {
	jobs := make([]J, len(group))
	for i, item := range group {
		jobs[i] = item.job
	}
	q.commit(jobs)
	for _, item := range group {
		close(item.done)
	}
	if q.after != nil {
		q.after()
	}
}
