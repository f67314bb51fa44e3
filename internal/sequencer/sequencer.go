// Package sequencer records activities for both SQL stores, by one set of
// rules: it assigns ids (dense, strictly increasing in commit order),
// stamps them with a created time that never decreases with id,
// de-duplicates event_ids per recorder (within a commit and against the
// store) and refuses one given to other content, appends
// their leaves to the Merkle tree stored as tiles, keeps the indexes of
// event ids and object ids that live outside the activities table
// (deferredIndex), and keeps each request
// all-or-nothing, however many requests share a commit (group commit,
// internal/groupcommit). A store supplies only its write transaction (with
// its way of locking the log's head, sqlstore.Dialect.LockHead) and a bulk
// insert of activity rows.
package sequencer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/groupcommit"
	"github.com/auditlog/auditlog/internal/sqlstore"
	"github.com/auditlog/auditlog/tlog"
)

// Tx is a store's write transaction.
type Tx interface {
	sqlstore.Querier
	// InsertActivities inserts the rows, in bulk.
	InsertActivities(ctx context.Context, rows []Row) error
	// InsertKeys inserts rows of a key and an activity id into the table's
	// columns (the key's, then the id's), in bulk: keys holds the values of
	// each of the key's columns, ids the activity ids.
	InsertKeys(ctx context.Context, table string, columns []string, keys [][]string, ids []int64) error
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Row is an activity with the id and creation time the sequencer gave it.
type Row struct {
	ID int64
	// CreatedUS is the creation time in microseconds since the Unix epoch.
	CreatedUS int64
	*sqlstore.Pending
}

// Config configures a Sequencer.
type Config struct {
	// Begin starts a write transaction.
	Begin func(ctx context.Context) (Tx, error)
	// Dialect is the store's.
	Dialect sqlstore.Dialect
	// Lookup resolves the activity types of the activities a change records.
	Lookup sqlstore.TypeLookup
	// Now is the store's clock.
	Now func() time.Time
	// Snapshot, when set, runs fn in a read-only transaction, on one
	// snapshot of the database. Record looks a request's event ids up
	// there before the request joins the queue, on the request's own
	// goroutine, so that the writer, which commits one group at a time,
	// looks up only what was committed since (eventsRecorded).
	Snapshot func(ctx context.Context, fn func(q sqlstore.Querier) error) error
	// MaxGroupRows bounds how many activities one commit writes; 0 means 20,000.
	MaxGroupRows int
	// AfterCommit, if set, runs after each commit's requests are answered,
	// with the tree's size; nothing else is written meanwhile.
	AfterCommit func(size uint64)
}

// Sequencer records activities through group commits.
type Sequencer struct {
	cfg   Config
	queue *groupcommit.Queue[*job]

	// tree is the tree as of the last commit, or nil to read it again.
	// Only the queue's goroutine touches it. A commit by another process
	// or node makes it stale, which the head's id tells.
	tree *tlog.TiledTree
	// events, objects and names are the store's deferred indexes of event
	// ids, object ids and, where the store keeps it so
	// (Dialect.ActivityNameTables), activity names with the operator.
	events, objects, names deferredIndex
	// refused, once set, is why every write fails.
	refused atomic.Pointer[error]
	// floor is the largest tree this process committed: a smaller one
	// means activities were removed behind its back, and their ids would
	// be handed out again.
	floor uint64
}

// job is one all-or-nothing unit of work: the statements of a change
// (apply), and the activities that record it.
type job struct {
	ctx        context.Context
	apply      func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error)
	activities []sqlstore.Pending

	// early holds the job's event ids recorded in the log as Record saw
	// it; nil when they were not looked up before the queue.
	early *earlyLookup

	ids []int64
	err error
}

// earlyLookup is what a lookup of event ids before the queue found: the
// recorded ones among them, as of a log of size activities.
type earlyLookup struct {
	recorded map[string]recordedEvent
	size     uint64
}

// New starts a sequencer.
func New(cfg Config) *Sequencer {
	if cfg.MaxGroupRows <= 0 {
		cfg.MaxGroupRows = 20000
	}
	s := &Sequencer{cfg: cfg,
		events:  deferredIndex{levels: sqlstore.EventIndexTables, columns: []string{"event_id", "id"}, first: firstLevel, growth: 4},
		objects: deferredIndex{levels: sqlstore.ObjectIndexTables, columns: []string{"object_id", "activity_id"}, first: firstLevel, growth: 16},
		names: deferredIndex{levels: cfg.Dialect.ActivityNameTables,
			columns: []string{"activity_system_name", "operator", "activity_id"}, first: firstLevel / 8, growth: 16},
	}
	s.queue = groupcommit.New(groupcommit.Config[*job]{
		MaxRows: cfg.MaxGroupRows,
		Rows:    func(j *job) int { return len(j.activities) },
		Commit:  s.commit,
		AfterCommit: func() {
			if s.tree != nil && cfg.AfterCommit != nil {
				cfg.AfterCommit(s.tree.Size())
			}
		},
	})
	return s
}

// Record records prepared activities as one all-or-nothing unit and
// returns their ids, once they are durable.
func (s *Sequencer) Record(ctx context.Context, activities []sqlstore.Pending) ([]int64, error) {
	j := &job{ctx: ctx, activities: activities}
	if err := s.lookUpEarly(ctx, j); err != nil {
		return nil, s.cfg.Dialect.Wrap("look up event ids", err)
	}
	return s.submit(j)
}

// lookUpEarly looks the job's event ids up in one snapshot of the log,
// with its size, when the store offers snapshots and the job has any.
func (s *Sequencer) lookUpEarly(ctx context.Context, j *job) error {
	keys := eventKeys([]*job{j}, nil)
	if s.cfg.Snapshot == nil || len(keys) == 0 {
		return nil
	}
	return s.cfg.Snapshot(ctx, func(q sqlstore.Querier) error {
		var size int64
		err := q.QueryRow(ctx, `SELECT id FROM activities ORDER BY id DESC LIMIT 1`).Scan(&size)
		if err != nil && !errors.Is(err, sqlstore.ErrNoRows) {
			return fmt.Errorf("read the newest activity: %w", err)
		}
		recorded, err := lookUpEvents(ctx, q, s.cfg.Dialect, keys, sqlstore.EventIndexTables, 0)
		if err != nil {
			return err
		}
		j.early = &earlyLookup{recorded: recorded, size: uint64(size)}
		return nil
	})
}

// Change runs apply in a write transaction and records the activities it
// returns in that transaction: the change commits with its record or not
// at all. It implements sqlstore.Shared.Change.
func (s *Sequencer) Change(ctx context.Context, apply func(ctx context.Context, tx sqlstore.Querier) ([]auditlog.NewActivity, error)) error {
	_, err := s.submit(&job{ctx: ctx, apply: apply})
	return err
}

// RefuseWrites makes every later Record and Change fail with reason (as
// EUNAVAILABLE), and the ones queued that are not yet committed.
func (s *Sequencer) RefuseWrites(reason error) {
	var err error = auditlog.Errorf(auditlog.EUNAVAILABLE, "%s", reason.Error())
	s.refused.CompareAndSwap(nil, &err)
}

func (s *Sequencer) refusal() error {
	if err := s.refused.Load(); err != nil {
		return *err
	}
	return nil
}

func (s *Sequencer) submit(j *job) ([]int64, error) {
	if err := s.refusal(); err != nil {
		return nil, err
	}
	if err := s.queue.Submit(j.ctx, j); err != nil {
		return nil, err
	}
	return j.ids, j.err
}

// Close stops accepting work and returns once what was submitted is committed.
func (s *Sequencer) Close() { s.queue.Close() }

// commit writes a group of jobs in one transaction. A job whose own
// statements fail is rolled back alone; a transaction that fails fails
// every job it held.
func (s *Sequencer) commit(group []*job) {
	if err := s.refusal(); err != nil {
		for _, j := range group {
			j.err = err
		}
		return
	}
	if err := s.commitTx(group); err != nil {
		s.tree = nil
		for _, j := range group {
			if j.err == nil {
				j.ids, j.err = nil, s.cfg.Dialect.Wrap("commit", err)
			}
		}
	}
}

func (s *Sequencer) commitTx(group []*job) error {
	ctx := context.Background()
	tx, err := s.cfg.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)

	var recording []*job
	for _, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.err = err // the request has gone: nothing of it is written
			continue
		}
		if j.apply != nil {
			if err := s.applyInSavepoint(ctx, tx, j); err != nil {
				return err
			}
			if j.err != nil {
				continue
			}
		}
		if len(j.activities) == 0 {
			j.ids = []int64{}
			continue
		}
		recording = append(recording, j)
	}
	if len(recording) > 0 {
		if err := s.sequence(ctx, tx, recording); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if s.tree != nil {
		s.floor = max(s.floor, s.tree.Size())
	}
	return nil
}

// applyInSavepoint runs a job's own statements in a savepoint and prepares
// the activities they return. A failure of the job's own is rolled back
// to the savepoint and left in j.err; the error returned is one the
// transaction cannot survive.
func (s *Sequencer) applyInSavepoint(ctx context.Context, tx Tx, j *job) error {
	if err := tx.Exec(ctx, "SAVEPOINT job"); err != nil {
		return err
	}
	acts, err := j.apply(ctx, tx)
	if err == nil && len(acts) > 0 {
		j.activities, err = sqlstore.Prepare(ctx, auditlog.RecordedByService, acts, s.cfg.Lookup)
	}
	if err != nil {
		j.activities, j.err = nil, err
		if err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT job"); err != nil {
			return err
		}
	}
	return tx.Exec(ctx, "RELEASE SAVEPOINT job")
}

// sequence assigns the jobs' activities their ids and time, appends their
// leaves and writes them with the tiles they changed. It holds the log's
// head from its first statement to the commit, so that ids strictly
// increase in commit order across processes and nodes.
func (s *Sequencer) sequence(ctx context.Context, tx Tx, jobs []*job) error {
	if lock := s.cfg.Dialect.LockHead; lock != "" {
		if err := tx.Exec(ctx, lock); err != nil {
			return fmt.Errorf("lock the log: %w", err)
		}
	}
	var lastID, lastCreated int64
	err := tx.QueryRow(ctx, `SELECT id, created_us FROM activities ORDER BY id DESC LIMIT 1`).Scan(&lastID, &lastCreated)
	if err != nil && !errors.Is(err, sqlstore.ErrNoRows) {
		return fmt.Errorf("read the newest activity: %w", err)
	}
	// The tree must cover exactly the activities: leaf i is activity i+1.
	size, err := sqlstore.TreeSize(ctx, tx)
	if err != nil {
		return err
	}
	if size != uint64(lastID) {
		return fmt.Errorf("the Merkle tree has %d leaves but the last activity is %d: run auditlog verify", size, lastID)
	}
	if size < s.floor {
		err := fmt.Errorf("the log has %d activities, but this process recorded %d: activities were removed behind its back (run auditlog verify)", size, s.floor)
		s.RefuseWrites(err)
		return s.refusal()
	}
	if s.tree == nil || s.tree.Size() != size {
		if s.tree, err = sqlstore.LoadTree(ctx, tx); err != nil {
			return err
		}
	}
	// created never decreases with id, even when the clock steps back or
	// another process or node, with a clock of its own, wrote last: date
	// filters rely on it.
	created := max(s.cfg.Now().UnixMicro(), lastCreated)
	createdAt := time.UnixMicro(created)

	recorded, err := s.eventsRecorded(ctx, tx, jobs, size)
	if err != nil {
		return err
	}
	var rows []Row
	var events, objects, names keyed
	for _, j := range jobs {
		if j.err = eventConflict(j, recorded); j.err != nil {
			continue // refused alone, before any of it is written
		}
		ids := make([]int64, len(j.activities))
		for i := range j.activities {
			p := &j.activities[i]
			key := p.EventKey()
			if r, ok := recorded[key]; ok && key != "" {
				ids[i] = r.id // recorded before, or earlier in this commit
				continue
			}
			id := int64(s.tree.Size()) + 1
			if err := s.tree.Append(p.Leaf.LeafHash(id, createdAt)); err != nil {
				return err
			}
			if key != "" {
				recorded[key] = recordedEvent{id: id, leaf: p.Leaf}
				events.add(id, key)
			}
			objects.add(id, p.ObjectID)
			if s.names.levels != nil {
				names.add(id, p.SystemName, string(p.Operator))
			}
			rows = append(rows, Row{ID: id, CreatedUS: created, Pending: p})
			ids[i] = id
		}
		j.ids = ids
	}
	if err := tx.InsertActivities(ctx, rows); err != nil {
		return fmt.Errorf("insert activities: %w", err)
	}
	for _, ix := range []struct {
		*deferredIndex
		entries keyed
	}{{&s.events, events}, {&s.objects, objects}, {&s.names, names}} {
		if err := ix.insert(ctx, tx, ix.entries, size, s.tree.Size()); err != nil {
			return err
		}
	}
	return sqlstore.WriteTiles(ctx, tx, s.tree.Changes())
}

// A deferredIndex is an index of activities by a key (event ids, object
// ids) kept out of the activities table, in levels: tables of (key,
// activity id), newest entries first. New entries go to the first, which
// holds those of the last few activities at most (the first level's span:
// 65,536 for event ids and object ids), so that a commit rewrites few of
// its pages however large the log. Whenever the log's
// size passes a multiple of a level's span, the level moves into the next
// in key order; each level spans growth times more activities than the
// one before, the last all the rest. A B-tree on such a key in the
// activities table instead takes each activity's entry on a page of its
// own once it outgrows a commit. The moves follow from the ids alone, so
// nodes that write in turn need no count of the levels. Readers read every
// level (sqlstore's queries, lookUpEvents), or those that can hold what they
// look for (holding).
//
// How much a move rewrites depends on the keys. Random keys (event ids)
// land all over the next level, so a move rewrites most of its pages: the
// next level must stay small next to the one moved, hence a growth of 4 and
// five levels, which at 10,000,000 rewrite about a fifth of the pages that
// three levels of growth 16 do. Keys shared by many activities take their
// new entries at the end of each key's run, so a move rewrites about one
// page per key whatever the next level's size: object ids keep three
// levels of growth 16, so that queries read three tables. Activity names
// with the operator are so few (hundreds) that every commit of a thousand
// activities touches most of them, and each key's run its own page: in the
// activities table such an index rewrote a page per key per commit. Its
// first level spans 8,192 activities, a few dozen pages, and each move
// appends to the runs of the one level after it.
type deferredIndex struct {
	levels  []string // the tables, newest entries first; none: the store keeps no such index
	columns []string // the key's columns, then the activity id's
	first   uint64   // how many activities the first level spans
	growth  uint64   // how many times more activities a level spans than the one before
}

// firstLevel is how many activities the first level of event ids and
// object ids spans. Tests lower it to move entries through every level.
var firstLevel uint64 = 1 << 16

// keyed are the entries of a deferred index a commit adds: the values of
// each of the key's columns, and the activity ids.
type keyed struct {
	keys [][]string
	ids  []int64
}

func (k *keyed) add(id int64, key ...string) {
	if k.keys == nil {
		k.keys = make([][]string, len(key))
	}
	for c, v := range key {
		k.keys[c] = append(k.keys[c], v)
	}
	k.ids = append(k.ids, id)
}

// insert adds the entries of a commit that takes the log from size before
// to size after into the first level, and moves each level whose span's
// multiple the commit passed into the next.
func (ix *deferredIndex) insert(ctx context.Context, tx Tx, entries keyed, before, after uint64) error {
	if len(ix.levels) == 0 {
		return nil
	}
	if len(entries.ids) > 0 {
		if err := tx.InsertKeys(ctx, ix.levels[0], ix.columns, entries.keys, entries.ids); err != nil {
			return fmt.Errorf("insert into %s: %w", ix.levels[0], err)
		}
	}
	columns := strings.Join(ix.columns, ", ")
	span := ix.first
	for i := 0; i+1 < len(ix.levels) && before/span != after/span; i++ {
		from, to := ix.levels[i], ix.levels[i+1]
		if err := tx.Exec(ctx, `INSERT INTO `+to+` (`+columns+`) SELECT `+columns+` FROM `+from+` ORDER BY `+columns); err != nil {
			return fmt.Errorf("move %s into %s: %w", from, to, err)
		}
		if err := tx.Exec(ctx, `DELETE FROM `+from); err != nil {
			return fmt.Errorf("empty %s: %w", from, err)
		}
		span *= ix.growth
	}
	return nil
}

// holding returns the levels that can hold the entries of the activities
// after the first from, in a log of to activities: the first, and each
// level that a level before it moved into since, when the log passed a
// multiple of the span of the level before.
func (ix *deferredIndex) holding(from, to uint64) []string {
	levels := []string{ix.levels[0]}
	span := ix.first
	for i := 1; i < len(ix.levels); i++ {
		if from/span != to/span {
			levels = append(levels, ix.levels[i])
		}
		span *= ix.growth
	}
	return levels
}

// A recordedEvent is the activity an event id recorded: its id and leaf.
type recordedEvent struct {
	id   int64
	leaf *tlog.LeafTemplate
}

// eventsRecorded looks up which of the jobs' event ids (per recorder) are
// recorded already, by this process or another, under which id and with
// which content, in a log of size activities. A job looked up early
// (Record) knows those of the log up to the size it saw: what was
// committed since is read from the levels that can hold it
// (deferredIndex.holding), for ids above the smallest size the jobs saw,
// and nothing is read when nothing was committed since. A job not looked
// up early (a change's own activities), or looked up in a log longer than
// this one, has every level read.
func (s *Sequencer) eventsRecorded(ctx context.Context, tx Tx, jobs []*job, size uint64) (map[string]recordedEvent, error) {
	recorded := map[string]recordedEvent{}
	since := size
	for _, j := range jobs {
		if j.early == nil || j.early.size > size {
			since = 0 // not looked up early, or the log is shorter than it was
			continue
		}
		since = min(since, j.early.size)
		maps.Copy(recorded, j.early.recorded)
	}
	keys := eventKeys(jobs, recorded)
	if len(keys) == 0 || since == size {
		return recorded, nil // nothing to look for, or nothing committed since every job looked
	}
	tables := sqlstore.EventIndexTables
	if since > 0 {
		tables = s.events.holding(since, size)
	}
	found, err := lookUpEvents(ctx, tx, s.cfg.Dialect, keys, tables, int64(since))
	maps.Copy(recorded, found)
	return recorded, err
}

// eventKeys are the event ids (per recorder) of the jobs' activities, but
// those in known.
func eventKeys(jobs []*job, known map[string]recordedEvent) []string {
	var keys []string
	for _, j := range jobs {
		for i := range j.activities {
			if k := j.activities[i].EventKey(); k != "" {
				if _, ok := known[k]; !ok {
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

// lookUpEvents finds which of the event ids (per recorder) the tables of
// the event ids' index hold for activities after the id after, and reads
// those activities, to compare their content with a retry's.
func lookUpEvents(ctx context.Context, q sqlstore.Querier, d sqlstore.Dialect, keys, tables []string, after int64) (map[string]recordedEvent, error) {
	recorded := map[string]recordedEvent{}
	arg, err := d.TextListArg(keys)
	if err != nil {
		return nil, err
	}
	var levels []string
	for _, table := range tables {
		levels = append(levels, `SELECT event_id, id FROM `+table+` WHERE `+d.TextIn("event_id", "$1")+` AND id > $2`)
	}
	rows, err := q.Query(ctx, strings.Join(levels, " UNION ALL "), arg, after)
	if err != nil {
		return nil, fmt.Errorf("find recorded events: %w", err)
	}
	keyOf := map[int64]string{}
	for rows.Next() {
		var key string
		var id int64
		if err := rows.Scan(&key, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find recorded events: %w", err)
		}
		keyOf[id] = key
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find recorded events: %w", err)
	}
	if len(keyOf) == 0 {
		return recorded, nil
	}
	// Retries are rare: read the content they are compared with only then.
	ids := make([]int64, 0, len(keyOf))
	for id := range keyOf {
		ids = append(ids, id)
	}
	err = sqlstore.ReadActivities(ctx, q, ids, func(a *auditlog.Activity) error {
		leaf, err := tlog.NewLeafTemplate(*a)
		recorded[keyOf[a.ID]] = recordedEvent{id: a.ID, leaf: leaf}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read recorded events: %w", err)
	}
	return recorded, nil
}

// eventConflict returns the ECONFLICT of the first activity of j whose
// event id its recorder used before (in the store, earlier in this commit
// or earlier in the request) for other content, nil when there is none.
func eventConflict(j *job, recorded map[string]recordedEvent) error {
	var inJob map[string]*tlog.LeafTemplate
	for i := range j.activities {
		p := &j.activities[i]
		key := p.EventKey()
		if key == "" {
			continue
		}
		if r, ok := recorded[key]; ok {
			if !r.leaf.Equal(p.Leaf) {
				return &auditlog.Error{Code: auditlog.ECONFLICT, Field: "event_id", Index: i,
					Message: fmt.Sprintf("event_id %s was recorded as activity %d with other content; a retry must send the same activity, a new activity a new event_id", p.EventID, r.id)}
			}
			continue
		}
		if first, ok := inJob[key]; ok {
			if !first.Equal(p.Leaf) {
				return &auditlog.Error{Code: auditlog.ECONFLICT, Field: "event_id", Index: i,
					Message: fmt.Sprintf("event_id %s is given to two activities of this request with different content", p.EventID)}
			}
			continue
		}
		if inJob == nil {
			inJob = map[string]*tlog.LeafTemplate{}
		}
		inJob[key] = p.Leaf
	}
	return nil
}
