package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/groupcommit"
	"github.com/auditlog/auditlog/internal/sqlstore"
	"github.com/auditlog/auditlog/tlog"
)

// writeJob is one all-or-nothing unit of work for the writer: optional
// statements of its own (apply) and the activities that record them.
type writeJob struct {
	ctx        context.Context
	apply      func(ctx context.Context, tx *sql.Tx) error
	activities []sqlstore.Pending

	ids []int64
	err error
}

// writer serialises every write through one goroutine and one connection.
// It groups the jobs that arrive while a commit is in flight into the next
// transaction (group commit): each job runs inside its own savepoint, so it
// stays all-or-nothing, and one fsync acknowledges them all.
type writer struct {
	db    *DB
	queue *groupcommit.Queue[*writeJob]

	insert     *sql.Stmt
	insertNode *sql.Stmt
	findEvent  *sql.Stmt
	last       *sql.Stmt

	// tree is the tree as of the last commit, or nil to read it again
	// (after a failed commit). Only the writer goroutine touches it.
	tree *tlog.Tree
	// optimizedAt is the number of activities when the planner statistics
	// were last refreshed: they are refreshed whenever the log doubles, so
	// that a server started on an empty store plans well at any size.
	optimizedAt uint64
}

const insertActivitySQL = `INSERT INTO activities (
  id, created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type,
  object_name, object_column_changes, event_id
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING`

func newWriter(ctx context.Context, db *DB, maxRows int) (*writer, error) {
	w := &writer{db: db}
	var err error
	if w.insert, err = db.write.PrepareContext(ctx, insertActivitySQL); err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	if w.findEvent, err = db.write.PrepareContext(ctx, `SELECT id FROM activities WHERE event_id = ?`); err != nil {
		return nil, fmt.Errorf("prepare event lookup: %w", err)
	}
	if w.last, err = db.write.PrepareContext(ctx, `SELECT id, created_us FROM activities ORDER BY id DESC LIMIT 1`); err != nil {
		return nil, fmt.Errorf("prepare last activity: %w", err)
	}
	if w.insertNode, err = db.write.PrepareContext(ctx, `INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)`); err != nil {
		return nil, fmt.Errorf("prepare node insert: %w", err)
	}
	if w.optimizedAt, err = treeSize(ctx, db.write); err != nil {
		return nil, fmt.Errorf("read the tree size: %w", err)
	}
	w.queue = groupcommit.New(groupcommit.Config[*writeJob]{
		MaxRows:     maxRows,
		Rows:        func(job *writeJob) int { return len(job.activities) },
		Commit:      w.commit,
		AfterCommit: w.optimizeAsTheLogGrows,
	})
	return w, nil
}

// submit hands a job to the writer and waits until it is committed or failed.
func (w *writer) submit(job *writeJob) ([]int64, error) {
	if err := w.queue.Submit(job.ctx, job); err != nil {
		return nil, err
	}
	return job.ids, job.err
}

// close stops accepting jobs, lets the writer finish those already queued
// and releases its statements.
func (w *writer) close() {
	w.queue.Close()
	w.insert.Close()
	w.insertNode.Close()
	w.findEvent.Close()
	w.last.Close()
}

// commit writes a group of jobs in one transaction.
func (w *writer) commit(group []*writeJob) {
	if err := w.commitTx(group); err != nil {
		for _, job := range group {
			if job.err == nil {
				job.ids, job.err = nil, storeError("commit", err)
			}
		}
	}
}

// optimizeAsTheLogGrows refreshes the planner statistics whenever the log
// has doubled since they were last refreshed.
func (w *writer) optimizeAsTheLogGrows() {
	if w.tree != nil && w.tree.Size() >= 2*max(w.optimizedAt, 500) {
		if err := w.db.optimize(context.Background()); err == nil {
			w.optimizedAt = w.tree.Size()
		}
	}
}

func (w *writer) commitTx(group []*writeJob) (err error) {
	ctx := context.Background()
	tx, err := w.db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	// The tree must cover exactly the activities: leaf i is activity i+1.
	// Another process may have written since this one last did.
	var lastID, lastCreated int64
	if err := tx.StmtContext(ctx, w.last).QueryRowContext(ctx).Scan(&lastID, &lastCreated); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if w.tree == nil || w.tree.Size() != uint64(lastID) {
		if w.tree, err = loadTree(ctx, tx); err != nil {
			return err
		}
		if w.tree.Size() != uint64(lastID) {
			return fmt.Errorf("the Merkle tree has %d leaves but the last activity is %d: run auditlog verify", w.tree.Size(), lastID)
		}
	}
	tree := w.tree.Clone()
	defer func() {
		if err == nil {
			w.tree = tree
		} else {
			w.tree = nil
		}
	}()

	// created never decreases with id, even when the clock steps back or
	// another process wrote last: date filters rely on it.
	created := max(w.db.now().UnixMicro(), lastCreated)

	stmts := jobStmts{
		insert:     tx.StmtContext(ctx, w.insert),
		insertNode: tx.StmtContext(ctx, w.insertNode),
		findEvent:  tx.StmtContext(ctx, w.findEvent),
	}
	for _, job := range group {
		if err := job.ctx.Err(); err != nil {
			job.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			return err
		}
		before := tree.Clone()
		ids, err := w.runJob(ctx, tx, job, stmts, tree, created)
		if err != nil {
			if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO job"); rbErr != nil {
				return rbErr
			}
			tree = before
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

type jobStmts struct {
	insert, insertNode, findEvent *sql.Stmt
}

// runJob applies a job's own statements, then inserts its activities, each
// with the next id and its leaf (and the tree nodes the leaf completes).
func (w *writer) runJob(ctx context.Context, tx *sql.Tx, job *writeJob, st jobStmts, tree *tlog.Tree, created int64) ([]int64, error) {
	if job.apply != nil {
		if err := job.apply(ctx, tx); err != nil {
			return nil, err
		}
	}
	ids := make([]int64, len(job.activities))
	for i := range job.activities {
		p := &job.activities[i]
		id := int64(tree.Size()) + 1
		res, err := st.insert.ExecContext(ctx, id, created, string(p.Operator), p.Username, p.SystemName, p.DisplayName,
			p.SubtypeSystemName, p.SubtypeDisplayName, string(p.Extra), p.ObjectID, p.ObjectType,
			p.ObjectName, p.ChangesJSON, p.EventIDArg())
		if err != nil {
			return nil, fmt.Errorf("insert activity: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			// The event_id was recorded before: answer with that recording's id.
			if err := st.findEvent.QueryRowContext(ctx, p.EventID).Scan(&ids[i]); err != nil {
				return nil, fmt.Errorf("find recorded event: %w", err)
			}
			continue
		}
		leaf := p.Leaf.LeafHash(id, time.UnixMicro(created))
		var nodeErr error
		tree.Append(leaf, func(n auditlog.NodeID, hash []byte) {
			if nodeErr == nil {
				_, nodeErr = st.insertNode.ExecContext(ctx, n.Level, n.Index, hash)
			}
		})
		if nodeErr != nil {
			return nil, fmt.Errorf("insert tree node: %w", nodeErr)
		}
		ids[i] = id
	}
	return ids, nil
}
