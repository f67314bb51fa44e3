package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/auditlog/auditlog"
)

// ActivityColumns are the columns of activities that make up an Activity,
// in the order activityScan reads them.
const ActivityColumns = `id, created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes, recorded_by`

// activityScan reads rows of ActivityColumns into one Activity, reused from
// row to row.
type activityScan struct {
	a                             auditlog.Activity
	created                       int64
	operator, changes, recordedBy string // plain strings: both drivers assign them without reflection
	extra                         []byte
}

func (s *activityScan) dest() []any {
	a := &s.a
	return []any{&a.ID, &s.created, &s.operator, &a.Username, &a.SystemName, &a.DisplayName,
		&a.SubtypeSystemName, &a.SubtypeDisplayName, &s.extra, &a.ObjectID, &a.ObjectType, &a.ObjectName, &s.changes, &s.recordedBy}
}

// scan reads one row and completes the activity from the columns that need
// decoding.
func (s *activityScan) scan(row Row) error {
	if err := row.Scan(s.dest()...); err != nil {
		return err
	}
	a := &s.a
	a.Operator = auditlog.Operator(s.operator)
	a.RecordedBy = auditlog.Recorder(s.recordedBy)
	a.Created = time.UnixMicro(s.created).UTC()
	a.Extra = json.RawMessage(s.extra)
	if s.changes == "[]" {
		// Most activities change no column: skip the JSON decoder (its
		// result would be this same empty, non-nil slice).
		a.Changes = []auditlog.Change{}
		return nil
	}
	a.Changes = nil
	if err := json.Unmarshal([]byte(s.changes), &a.Changes); err != nil {
		return fmt.Errorf("activity %d: decode object_column_changes: %w", a.ID, err)
	}
	return nil
}

// FindActivityByID returns one activity.
func (db *Shared) FindActivityByID(ctx context.Context, id int64) (*auditlog.Activity, error) {
	var s activityScan
	err := s.scan(db.Read.QueryRow(ctx, `SELECT `+ActivityColumns+` FROM activities WHERE id = $1`, id))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "activity %d not found", id)
	}
	if err != nil {
		return nil, db.Wrap("find activity", err)
	}
	return &s.a, nil
}

// ReadActivities calls fn with each of the activities of the given ids
// that q finds, in no particular order; fn must not keep the activity.
func ReadActivities(ctx context.Context, q Querier, ids []int64, fn func(*auditlog.Activity) error) error {
	b := &builder{}
	rows, err := q.Query(ctx, `SELECT `+ActivityColumns+` FROM activities WHERE id IN (`+list(b, ids)+`)`, b.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var s activityScan
	for rows.Next() {
		if err := s.scan(rows); err != nil {
			return err
		}
		if err := fn(&s.a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// FindActivities returns one page of activities, newest first.
func (db *Shared) FindActivities(ctx context.Context, f auditlog.Filter) ([]auditlog.Activity, bool, error) {
	return FindPage(ctx, f, db.StreamActivities)
}

// StreamActivities reads the matching activities from one snapshot. A
// filter with dates maps them to ids first, in the same read transaction
// as the listing; any other is one statement, which reads from one
// snapshot by itself.
func (db *Shared) StreamActivities(ctx context.Context, f auditlog.Filter, fn func(*auditlog.Activity) error) error {
	f, err := db.prepareSearch(ctx, f)
	if err != nil {
		return err
	}
	after := func(ids IDRange) IDRange {
		if f.AfterID > 0 {
			ids.Lo = max(ids.Lo, f.AfterID+1)
		}
		return ids
	}
	if f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() {
		return db.streamActivities(ctx, db.Read, f, after(IDRange{}), fn)
	}
	return db.Snapshot(ctx, func(q Querier) error {
		ids, ok, err := db.idRange(ctx, q, f)
		if err != nil || !ok {
			return err
		}
		return db.streamActivities(ctx, q, f, after(ids), fn)
	})
}

// narrowMost bounds the counts that choose a page's narrow column
// (ListQuery): past it, a column's matches are frequent enough that the
// planner's own choice reads few rows per match.
const narrowMost = 15000

// narrowColumn chooses the column a page of f tests as a set of ids
// (ListQuery), "" for none: of two or more text columns, the one with the
// fewest matches in the page's id range.
func (db *Shared) narrowColumn(ctx context.Context, f auditlog.Filter, ids IDRange, plan searchPlan) (string, error) {
	if db.IntersectsIndexes || f.Limit == 0 || len(f.IDs) > 0 || f.OldestFirst || len(f.ObjectIDs) > 0 || plan.drive != nil {
		return "", nil
	}
	lo, hi := max(ids.Lo, 1), int64(math.MaxInt64)
	if ids.Hi > 0 {
		hi = ids.Hi + 1
	}
	if f.BeforeID > 0 {
		hi = min(hi, f.BeforeID)
	}
	return db.narrowestIndex(ctx, withImpliedOperator(f), lo, hi, narrowMost)
}

// pageQuery is the query of what f selects in the id range: the plan of
// its search, if any (planSearch), or a walk of the index's facet words
// (facetWalk), or else ListQuery's walk of the activities' B-trees.
func (db *Shared) pageQuery(ctx context.Context, q Querier, f auditlog.Filter, ids IDRange) (Query, error) {
	plan, err := db.planSearch(ctx, q, f, ids)
	if err != nil {
		return Query{}, db.Wrap("plan search", err)
	}
	if facets, ok := facetWalk(f, db.Dialect); ok {
		through, err := db.indexedThrough(ctx)
		if err != nil {
			return Query{}, err
		}
		if through >= max(ids.Lo, 1) {
			return db.facetPageQuery(ctx, f, ids, through, facets)
		}
	}
	narrow, err := db.narrowColumn(ctx, f, ids, plan)
	if err != nil {
		return Query{}, err
	}
	return ListQuery(f, ids, narrow, db.Dialect, plan), nil
}

// facetWalk is the query of the index's facet words that a page of f,
// which has no search, reads instead of the activities' B-trees, where
// the store's index keeps facet words (SearchDialect.Walk): a page newest
// first filtered by two or more of the activity, the username and the
// object type, or by an object's type and id. No B-tree holds two of
// them together, so that the activities of two frequent values with few
// in common are found by reading thousands of index entries or rows per
// page, and more as the log grows; the index intersects its compact
// lists of documents, skipping ahead in each, and stops after the page.
// An object, its type and id together, is one list of the index
// (auditlog.ObjectFacetWord). An object id without its type is read from
// its own index (ListQuery): its few activities are found there
// directly, where the index would read a page of another value's list
// for each. ok is false for any other filter, and for one that selects
// an empty value (a machine's username), which has no facet word.
func facetWalk(f auditlog.Filter, d Dialect) (q auditlog.TextQuery, ok bool) {
	if d.Search.Walk == nil || f.Search != nil || f.Limit == 0 || len(f.IDs) > 0 || f.OldestFirst ||
		len(f.ObjectIDs) > 0 && len(f.ObjectTypes) == 0 {
		return q, false
	}
	columns := 0
	for _, c := range textFilters(f) {
		if slices.Contains(c.values, "") {
			return q, false
		}
		if len(c.values) > 0 {
			columns++
		}
	}
	if columns < 2 {
		return q, false
	}
	// The operator a username implies is tested on each row found: as a
	// facet word, its list (half the log) would be intersected too.
	return withoutImpliedOperator(f).IndexQuery()
}

// indexedThrough is the id up to which the full-text index holds every
// activity, 0 for a store without one (or a read-only store never served
// since search existed, whose B-trees answer alone).
func (db *Shared) indexedThrough(ctx context.Context) (int64, error) {
	if db.Index == nil {
		return 0, nil
	}
	through, err := db.Index.Through(ctx)
	if auditlog.ErrorCode(err) == auditlog.EUNAVAILABLE {
		return 0, nil
	}
	if err != nil {
		return 0, db.Wrap("read how far the search index is", err)
	}
	return through, nil
}

// facetPageQuery is the query of a page of f that walks facets, the
// query of f's facet words, up to through, where the index holds every
// activity, and the activities' B-trees (ListQuery) beyond it: each
// finds every match of its own range, so the page is the same whatever
// the index holds past through meanwhile.
func (db *Shared) facetPageQuery(ctx context.Context, f auditlog.Filter, ids IDRange, through int64, facets auditlog.TextQuery) (Query, error) {
	b := &builder{}
	var parts []string
	tail := IDRange{Lo: max(ids.Lo, through+1), Hi: ids.Hi}
	if (tail.Hi == 0 || tail.Hi >= tail.Lo) && (f.BeforeID == 0 || f.BeforeID > tail.Lo) {
		narrow, err := db.narrowColumn(ctx, f, tail, searchPlan{})
		if err != nil {
			return Query{}, err
		}
		parts = append(parts, listQuery(b, f, tail, narrow, db.Dialect, ActivityColumns, searchPlan{}))
	}
	indexed := ids
	if indexed.Hi == 0 || indexed.Hi > through {
		indexed.Hi = through
	}
	parts = append(parts, searchQuery(b, f, indexed, db.Dialect, ActivityColumns, searchPlan{drive: &facets}))
	if len(parts) == 1 {
		return Query{SQL: parts[0], Args: b.args}, nil
	}
	s := `SELECT * FROM (` + parts[0] + `) AS beyond UNION ALL SELECT * FROM (` + parts[1] + `) AS indexed ORDER BY id DESC LIMIT ` + b.arg(f.Limit)
	return Query{SQL: s, Args: b.args}, nil
}

// streamActivities runs the list query of f over the given id range and
// calls fn for each row as it is read.
func (db *Shared) streamActivities(ctx context.Context, q Querier, f auditlog.Filter, ids IDRange, fn func(*auditlog.Activity) error) error {
	list, err := db.pageQuery(ctx, q, f, ids)
	if err != nil {
		return err
	}
	rows, err := q.Query(ctx, list.SQL, list.Args...)
	if err != nil {
		return db.Wrap("find activities", err)
	}
	defer rows.Close()
	// One Activity for every row: fn must not keep it, and a fresh one per
	// row would be an allocation per row (an export reads millions).
	var s activityScan
	for rows.Next() {
		if err := s.scan(rows); err != nil {
			return db.Wrap("find activities", err)
		}
		if err := fn(&s.a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return db.Wrap("find activities", err)
	}
	return nil
}

// idRange turns the filter's date range into the range of ids that can
// match (0 for an open end). It reports false when no activity can match.
func (db *Shared) idRange(ctx context.Context, q Querier, f auditlog.Filter) (IDRange, bool, error) {
	var r IDRange
	if f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() {
		return r, true, nil
	}
	first, last, err := db.idSpan(ctx, q)
	if err != nil {
		return r, false, err
	}
	if !f.CreatedFrom.IsZero() {
		lo, found, err := db.firstCreatedAtLeast(ctx, q, f.CreatedFrom.UnixMicro(), first, last)
		if err != nil || !found {
			return r, false, err
		}
		r.Lo = lo
	}
	if !f.CreatedTo.IsZero() {
		after, found, err := db.firstCreatedAtLeast(ctx, q, f.CreatedTo.UnixMicro()+1, max(first, r.Lo), last)
		if err != nil {
			return r, false, err
		}
		if found {
			if after <= 1 {
				return r, false, nil
			}
			r.Hi = after - 1
		}
	}
	if r.Lo > 0 && r.Hi > 0 && r.Hi < r.Lo {
		return r, false, nil
	}
	return r, true, nil
}

// idSpan returns the smallest and the largest id stored (0 when none).
func (db *Shared) idSpan(ctx context.Context, q Querier) (first, last int64, err error) {
	// Two subqueries: SQLite reads min(id) or max(id) off the end of the
	// primary key only when the query holds just one of them.
	if err := q.QueryRow(ctx, `SELECT (SELECT coalesce(min(id), 0) FROM activities), (SELECT coalesce(max(id), 0) FROM activities)`).Scan(&first, &last); err != nil {
		return 0, 0, db.Wrap("find date range", err)
	}
	return first, last, nil
}

// probesPerRound is how many ids one round of firstCreatedAtLeast reads.
const probesPerRound = 32

// firstCreatedAtLeast returns the smallest id in [lo, hi] of an activity
// created at or after us (microseconds). created never decreases with id,
// so it searches the primary key, and no index on created_us is needed:
// the ids whose creation times earlier searches read (db.created) narrow
// the range first; then each round reads probesPerRound ids spread over
// the range left and narrows it to the gap between two of them, so a
// million activities take at most four rounds.
func (db *Shared) firstCreatedAtLeast(ctx context.Context, q Querier, us, lo, hi int64) (int64, bool, error) {
	var found int64 // the smallest id known to be created at or after us
	lo, hi, found = db.created.narrow(us, lo, hi)
	for lo > 0 && lo <= hi {
		probes, all := spread(lo, hi)
		b := &builder{}
		rows, err := q.Query(ctx, `SELECT id, created_us FROM activities WHERE id IN (`+list(b, probes)+`) ORDER BY id`, b.args...)
		if err != nil {
			return 0, false, db.Wrap("find date range", err)
		}
		nextLo, nextHi := lo, hi
		var read []createdAt
		for rows.Next() {
			var p createdAt
			if err := rows.Scan(&p.id, &p.us); err != nil {
				rows.Close()
				return 0, false, db.Wrap("find date range", err)
			}
			read = append(read, p)
			if p.us >= us && (found == 0 || p.id < found) {
				found, nextHi = p.id, p.id-1
			} else if p.us < us && p.id >= nextLo && (found == 0 || p.id < found) {
				nextLo = p.id + 1
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, false, db.Wrap("find date range", err)
		}
		db.created.add(read)
		if all || (nextLo == lo && nextHi == hi) {
			if !all {
				// No probe exists (ids removed behind the store's back): scan.
				var id int64
				err := q.QueryRow(ctx, `SELECT coalesce(min(id), 0) FROM activities WHERE id BETWEEN $1 AND $2 AND created_us >= $3`, lo, hi, us).Scan(&id)
				if err != nil {
					return 0, false, db.Wrap("find date range", err)
				}
				if id > 0 {
					found = id
				}
			}
			break
		}
		lo, hi = nextLo, nextHi
	}
	return found, found > 0, nil
}

// spread returns up to probesPerRound ids from lo to hi, evenly spaced,
// and whether they are all the ids of the range.
func spread(lo, hi int64) ([]int64, bool) {
	n := hi - lo + 1
	if n <= probesPerRound {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = lo + int64(i)
		}
		return ids, true
	}
	ids := make([]int64, probesPerRound)
	for i := range ids {
		ids[i] = lo + n*int64(i)/probesPerRound
	}
	return ids, false
}
