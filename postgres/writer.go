package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/groupcommit"
	"github.com/auditlog/auditlog/internal/sqlstore"
	"github.com/auditlog/auditlog/tlog"
)

// writeJob is one all-or-nothing unit of work for the writer: optional
// statements of its own (apply) and the activities that record them.
type writeJob struct {
	ctx        context.Context
	apply      func(ctx context.Context, tx pgx.Tx) error
	activities []sqlstore.Pending

	ids []int64
	err error
}

// writer commits this node's writes. It groups the jobs that arrive while
// a commit is in flight into the next transaction (group commit); each
// job's own statements run inside a savepoint, so it stays all-or-nothing.
// Across nodes, a transaction-level advisory lock serialises only the tail
// of each transaction: reading the tree's size, assigning ids, COPYing the
// rows and their tree nodes, and the commit.
type writer struct {
	db    *DB
	queue *groupcommit.Queue[*writeJob]

	// tree is the tree as of this node's last commit, or nil to read it
	// again. Only the queue's goroutine touches it. Another node's commits
	// make it stale, which the size check at the next commit notices.
	tree *tlog.Tree
}

func newWriter(db *DB, maxRows int) *writer {
	w := &writer{db: db}
	w.queue = groupcommit.New(groupcommit.Config[*writeJob]{
		MaxRows: maxRows,
		Rows:    func(job *writeJob) int { return len(job.activities) },
		Commit:  w.commit,
	})
	return w
}

// submit hands a job to the writer and waits until it is committed or failed.
func (w *writer) submit(job *writeJob) ([]int64, error) {
	if err := w.queue.Submit(job.ctx, job); err != nil {
		return nil, err
	}
	return job.ids, job.err
}

// close stops accepting jobs and lets the writer finish those already queued.
func (w *writer) close() { w.queue.Close() }

// commit writes a group of jobs in one transaction.
func (w *writer) commit(group []*writeJob) {
	if err := w.commitTx(group); err != nil {
		w.tree = nil
		for _, job := range group {
			if job.err == nil {
				job.ids, job.err = nil, storeError("commit", err)
			}
		}
	}
}

// activityCopyColumns are the columns of activities the writer fills.
var activityCopyColumns = []string{"id", "created_us", "operator", "username", "activity_system_name", "activity_display_name",
	"subtype_system_name", "subtype_display_name", "extra", "object_id", "object_type",
	"object_name", "object_column_changes", "event_id"}

func (w *writer) commitTx(group []*writeJob) error {
	ctx := context.Background()
	tx, err := w.db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)

	// Each job's own statements, before the tree lock: they need no turn.
	var recording []*writeJob
	for _, job := range group {
		if err := job.ctx.Err(); err != nil {
			job.err = err
			continue
		}
		if job.apply != nil {
			if err := applyInSavepoint(ctx, tx, job); err != nil {
				return err
			}
			if job.err != nil {
				continue // the job's own failure; the others go on
			}
		}
		if len(job.activities) == 0 {
			job.ids = []int64{}
			continue
		}
		recording = append(recording, job)
	}
	if len(recording) > 0 {
		if err := w.record(ctx, tx, recording); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// applyInSavepoint runs a job's statements in a savepoint. A failure of
// the statements themselves is rolled back to the savepoint and left in
// job.err; the error returned is one the transaction cannot survive.
func applyInSavepoint(ctx context.Context, tx pgx.Tx, job *writeJob) error {
	if _, err := tx.Exec(ctx, "SAVEPOINT job"); err != nil {
		return err
	}
	if err := job.apply(ctx, tx); err != nil {
		job.err = err
		_, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT job")
		return err
	}
	_, err := tx.Exec(ctx, "RELEASE SAVEPOINT job")
	return err
}

// record assigns ids to the jobs' activities and writes them with their
// leaves and tree nodes. It holds the tree lock from its first statement
// to the commit, so ids strictly increase in commit order across nodes.
func (w *writer) record(ctx context.Context, tx pgx.Tx, jobs []*writeJob) (err error) {
	// A statement of its own: under READ COMMITTED every later statement
	// then sees what the previous holder of the lock committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, treeLock); err != nil {
		return fmt.Errorf("lock the tree: %w", err)
	}
	// The tree must cover exactly the activities: leaf i is activity i+1.
	var size, lastID, lastCreated int64
	if err := tx.QueryRow(ctx, `SELECT
		  coalesce((SELECT max(leaf) + 1 FROM tree_leaves), 0),
		  coalesce((SELECT id FROM activities ORDER BY id DESC LIMIT 1), 0),
		  coalesce((SELECT created_us FROM activities ORDER BY id DESC LIMIT 1), 0)`).Scan(&size, &lastID, &lastCreated); err != nil {
		return fmt.Errorf("read the tree size: %w", err)
	}
	if w.tree == nil || w.tree.Size() != uint64(size) {
		if w.tree, err = loadTree(ctx, tx, uint64(size)); err != nil {
			return err
		}
	}
	if size != lastID {
		return fmt.Errorf("the Merkle tree has %d leaves but the last activity is %d: run auditlog verify", size, lastID)
	}
	// created never decreases with id, even when the clock steps back or
	// another node, with a clock of its own, wrote last: date filters rely on it.
	created := max(w.db.now().UnixMicro(), lastCreated)

	// An event_id recorded before is rare (a client's retry), and the
	// unique index finds it anyway while the rows are copied: so the rows
	// are copied without looking, and only when the index refuses them are
	// the recorded events looked up and the copy made again.
	if _, err := tx.Exec(ctx, "SAVEPOINT copy"); err != nil {
		return err
	}
	tree, err := w.copyActivities(ctx, tx, jobs, created, nil)
	if isEventConflict(err) {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT copy"); err != nil {
			return err
		}
		var recorded map[string]int64
		if recorded, err = recordedEvents(ctx, tx, jobs); err != nil {
			return err
		}
		tree, err = w.copyActivities(ctx, tx, jobs, created, recorded)
	}
	if err != nil {
		return err
	}
	w.tree = tree // dropped again by commit if the transaction fails
	return nil
}

// isEventConflict reports whether err is the unique index on event_id
// refusing a row.
func isEventConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "activities_event_id_key"
}

// recordedEvents looks up which of the jobs' event ids are recorded
// already, by this node or another, and under which id.
func recordedEvents(ctx context.Context, tx pgx.Tx, jobs []*writeJob) (map[string]int64, error) {
	var events []string
	for _, job := range jobs {
		for i := range job.activities {
			if e := job.activities[i].EventID; e != "" {
				events = append(events, e)
			}
		}
	}
	recorded := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT event_id, id FROM activities WHERE event_id = ANY($1)`, events)
	if err != nil {
		return nil, fmt.Errorf("find recorded events: %w", err)
	}
	var event string
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&event, &id}, func() error { recorded[event] = id; return nil }); err != nil {
		return nil, fmt.Errorf("find recorded events: %w", err)
	}
	return recorded, nil
}

// copyActivities assigns the next ids to the jobs' activities, but for
// those whose event is in recorded (or repeated within the group), and
// COPYs them and their leaves, each with the tree nodes it completes. It returns the
// tree with their leaves; the writer's own tree is left as it was.
func (w *writer) copyActivities(ctx context.Context, tx pgx.Tx, jobs []*writeJob, created int64, recorded map[string]int64) (*tlog.Tree, error) {
	tree := w.tree.Clone()
	seen := map[string]int64{}
	for e, id := range recorded {
		seen[e] = id
	}
	createdAt := time.UnixMicro(created)
	var activityRows, leafRows [][]any
	for _, job := range jobs {
		ids := make([]int64, len(job.activities))
		for i := range job.activities {
			p := &job.activities[i]
			if id, ok := seen[p.EventID]; ok && p.EventID != "" {
				ids[i] = id
				continue
			}
			id := int64(tree.Size()) + 1
			activityRows = append(activityRows, []any{id, created, string(p.Operator), p.Username, p.SystemName, p.DisplayName,
				p.SubtypeSystemName, p.SubtypeDisplayName, string(p.Extra), p.ObjectID, p.ObjectType,
				p.ObjectName, p.ChangesJSON, p.EventIDArg()})
			if p.EventID != "" {
				seen[p.EventID] = id
			}
			leaf := p.Leaf.LeafHash(id, createdAt)
			hashes := make([]byte, 0, 2*hashSize)
			var order error
			if err := tree.Append(leaf, func(n auditlog.NodeID, hash []byte) {
				if row, _ := nodeRow(n); row != id-1 || int(n.Level)*hashSize != len(hashes) {
					order = fmt.Errorf("tree node (%d, %d) does not belong to leaf %d", n.Level, n.Index, id-1)
				}
				hashes = append(hashes, hash...)
			}); err != nil {
				return nil, err
			}
			if order != nil {
				return nil, order
			}
			leafRows = append(leafRows, []any{id - 1, hashes})
			ids[i] = id
		}
		job.ids = ids
	}
	if len(activityRows) == 0 {
		return tree, nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"activities"}, activityCopyColumns, pgx.CopyFromRows(activityRows)); err != nil {
		return nil, fmt.Errorf("copy activities: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tree_leaves"}, []string{"leaf", "hashes"}, pgx.CopyFromRows(leafRows)); err != nil {
		return nil, fmt.Errorf("copy tree leaves: %w", err)
	}
	return tree, nil
}
