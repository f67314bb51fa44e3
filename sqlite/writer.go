package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/auditlog/auditlog"
)

// pendingActivity is a validated activity with its catalogue names resolved,
// ready to be inserted.
type pendingActivity struct {
	auditlog.NewActivity
	DisplayName        string
	SubtypeDisplayName string
	ChangesJSON        string
}

// writeJob is one all-or-nothing unit of work for the writer: optional
// statements of its own (apply) and the activities that record them.
type writeJob struct {
	ctx        context.Context
	apply      func(ctx context.Context, tx *sql.Tx) error
	activities []pendingActivity

	ids  []int64
	err  error
	done chan struct{}
}

// writer serialises every write through one goroutine and one connection.
// It groups the jobs that arrive while a commit is in flight into the next
// transaction (group commit): each job runs inside its own savepoint, so it
// stays all-or-nothing, and one fsync acknowledges them all.
type writer struct {
	db      *DB
	maxRows int
	jobs    chan *writeJob

	mu      sync.RWMutex // held for reading while submitting; for writing by close
	closed  bool
	stop    chan struct{}
	stopped chan struct{}

	insert    *sql.Stmt
	findEvent *sql.Stmt
	lastTime  *sql.Stmt
}

const insertActivitySQL = `INSERT INTO activities (
  created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type,
  object_name, object_column_changes, event_id
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING`

func newWriter(ctx context.Context, db *DB, maxRows int) (*writer, error) {
	w := &writer{
		db:      db,
		maxRows: maxRows,
		jobs:    make(chan *writeJob, 1024),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	var err error
	if w.insert, err = db.write.PrepareContext(ctx, insertActivitySQL); err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	if w.findEvent, err = db.write.PrepareContext(ctx, `SELECT id FROM activities WHERE event_id = ?`); err != nil {
		return nil, fmt.Errorf("prepare event lookup: %w", err)
	}
	if w.lastTime, err = db.write.PrepareContext(ctx, `SELECT created_us FROM activities ORDER BY id DESC LIMIT 1`); err != nil {
		return nil, fmt.Errorf("prepare last time: %w", err)
	}
	go w.run()
	return w, nil
}

// submit hands a job to the writer and waits until it is committed or failed.
func (w *writer) submit(job *writeJob) ([]int64, error) {
	job.done = make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, auditlog.Errorf(auditlog.EUNAVAILABLE, "store is closing")
	}
	select {
	case w.jobs <- job:
	case <-job.ctx.Done():
		w.mu.RUnlock()
		return nil, job.ctx.Err()
	}
	w.mu.RUnlock()
	<-job.done
	return job.ids, job.err
}

// close stops accepting jobs, lets the writer finish those already queued
// and releases its statements.
func (w *writer) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.stopped
	w.insert.Close()
	w.findEvent.Close()
	w.lastTime.Close()
}

func (w *writer) run() {
	defer close(w.stopped)
	for {
		var first *writeJob
		select {
		case first = <-w.jobs:
		case <-w.stop:
			// Every submitter finished sending before stop was closed.
			for {
				select {
				case job := <-w.jobs:
					w.commit([]*writeJob{job})
				default:
					return
				}
			}
		}
		group := []*writeJob{first}
		rows := len(first.activities)
	drain:
		for rows < w.maxRows {
			select {
			case job := <-w.jobs:
				group = append(group, job)
				rows += len(job.activities)
			default:
				break drain
			}
		}
		w.commit(group)
	}
}

// commit writes a group of jobs in one transaction and wakes their submitters.
func (w *writer) commit(group []*writeJob) {
	if err := w.commitTx(group); err != nil {
		for _, job := range group {
			if job.err == nil {
				job.ids, job.err = nil, storeError("commit", err)
			}
		}
	}
	for _, job := range group {
		close(job.done)
	}
}

func (w *writer) commitTx(group []*writeJob) error {
	ctx := context.Background()
	tx, err := w.db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	// created never decreases with id, even when the clock steps back or
	// another process wrote last: date filters rely on it.
	var last int64
	if err := tx.StmtContext(ctx, w.lastTime).QueryRowContext(ctx).Scan(&last); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	created := max(w.db.now().UnixMicro(), last)

	insert := tx.StmtContext(ctx, w.insert)
	findEvent := tx.StmtContext(ctx, w.findEvent)
	for _, job := range group {
		if err := job.ctx.Err(); err != nil {
			job.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			return err
		}
		ids, err := w.runJob(ctx, tx, job, insert, findEvent, created)
		if err != nil {
			if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO job"); rbErr != nil {
				return rbErr
			}
			job.err = err
		} else {
			job.ids = ids
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (w *writer) runJob(ctx context.Context, tx *sql.Tx, job *writeJob, insert, findEvent *sql.Stmt, created int64) ([]int64, error) {
	if job.apply != nil {
		if err := job.apply(ctx, tx); err != nil {
			return nil, err
		}
	}
	ids := make([]int64, len(job.activities))
	for i := range job.activities {
		a := &job.activities[i]
		var eventID any
		if a.EventID != "" {
			eventID = a.EventID
		}
		res, err := insert.ExecContext(ctx, created, string(a.Operator), a.Username, a.SystemName, a.DisplayName,
			a.SubtypeSystemName, a.SubtypeDisplayName, string(a.Extra), a.ObjectID, a.ObjectType,
			a.ObjectName, a.ChangesJSON, eventID)
		if err != nil {
			return nil, fmt.Errorf("insert activity: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			// The event_id was recorded before: answer with that recording's id.
			if err := findEvent.QueryRowContext(ctx, a.EventID).Scan(&ids[i]); err != nil {
				return nil, fmt.Errorf("find recorded event: %w", err)
			}
			continue
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
