package tlog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/auditlog/auditlog"
)

// Store is what verification reads: the activities and the tree.
type Store interface {
	auditlog.ActivityService
	auditlog.TreeService
}

// Problem is one way in which the store does not match what was signed.
type Problem struct {
	// ActivityID is the first activity concerned; 0 when none is (a
	// checkpoint's signature, the stored tree nodes).
	ActivityID int64
	// RangeEnd is set when the problem concerns activities ActivityID to
	// RangeEnd as a whole (a checkpoint they no longer match).
	RangeEnd int64
	Message  string
}

// Report is what Verify found.
type Report struct {
	Activities uint64 // activities read
	Leaves     uint64 // leaves of the recomputed tree
	// Checkpoint is the latest signed checkpoint, checked against the log.
	Checkpoint *auditlog.Checkpoint
	// Uncovered counts the activities recorded after the latest checkpoint:
	// intact as far as the tree goes, but not signed yet.
	Uncovered uint64
	Problems  []Problem
}

// errStop ends a stream early.
var errStop = errors.New("stop")

// maxProblems bounds the report: after the first problem the rest of the
// log usually follows from it.
const maxProblems = 50

func (r *Report) add(id int64, format string, args ...any) {
	r.addRange(id, 0, format, args...)
}

func (r *Report) addRange(id, end int64, format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{ActivityID: id, RangeEnd: end, Message: fmt.Sprintf(format, args...)})
	}
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First returns the problem of the smallest activity ID, or nil. A range
// that holds a problem of one activity gives way to it: that activity is
// what made the range fail. Problems with no activity come last.
func (r *Report) First() *Problem {
	var ps []Problem
	for _, p := range r.Problems {
		explained := false
		for _, q := range r.Problems {
			explained = explained || (p.RangeEnd > 0 && q.RangeEnd == 0 && q.ActivityID >= p.ActivityID && q.ActivityID <= p.RangeEnd)
		}
		if !explained {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].ActivityID, ps[j].ActivityID
		if (a == 0) != (b == 0) {
			return b == 0
		}
		return a < b
	})
	if len(ps) == 0 {
		return nil
	}
	return &ps[0]
}

// expected is a signed root the recomputed tree must reach at its size.
type expected struct {
	root   []byte
	source string
}

// Verify recomputes every leaf from the stored activities and the tree from
// the leaves, and checks them against every stored checkpoint (each one's
// signature checked with v) and, when given, against saved: a checkpoint an
// auditor kept, which catches a history rewritten by someone who holds the
// signing key. It reports the first activity that does not match: edited,
// missing, inserted, reordered or cut off at the tail.
func Verify(ctx context.Context, s Store, v note.Verifier, saved []byte) (*Report, error) {
	r := &Report{}
	want := map[uint64]expected{}
	checkpoints, err := s.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	if err := sameLog(checkpoints, v); err != nil {
		return nil, err
	}
	for i := range checkpoints {
		c := &checkpoints[i]
		size, root, err := OpenCheckpoint(c.Note, v)
		if err != nil {
			r.add(0, "the checkpoint of size %d does not carry a valid signature of %s: %v", c.Size, v.Name(), err)
			continue
		}
		if size != c.Size || !SameHash(root, c.Root) {
			r.add(0, "the checkpoint stored for size %d differs from its own signed note", c.Size)
		}
		want[size] = expected{root: root, source: fmt.Sprintf("the signed checkpoint of size %d", size)}
		r.Checkpoint = c
	}
	if saved != nil {
		size, root, err := OpenCheckpoint(saved, v)
		if err != nil {
			return nil, fmt.Errorf("the saved checkpoint does not carry a valid signature of log %s: %w", v.Name(), err)
		}
		if w, ok := want[size]; ok && !SameHash(w.root, root) {
			r.add(0, "two different roots were signed for tree size %d: the log forked", size)
		}
		want[size] = expected{root: root, source: fmt.Sprintf("the saved checkpoint of size %d", size)}
	}

	// Everything recorded after this head (while verification runs) is left
	// for the next run.
	head, err := s.TreeHead(ctx)
	if err != nil {
		return nil, err
	}

	// The stored leaves arrive alongside the activities, both in order, in
	// batches: one channel operation per leaf cost more than the leaf.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leafBatches := make(chan []storedLeaf, 4)
	leafErr := make(chan error, 1)
	go func() {
		defer close(leafBatches)
		batch := make([]storedLeaf, 0, verifyBatch)
		send := func() error {
			select {
			case leafBatches <- batch:
				batch = make([]storedLeaf, 0, verifyBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := s.StreamLeafHashes(ctx, 0, func(i uint64, h []byte) error {
			if i >= head.Size {
				return errStop
			}
			batch = append(batch, storedLeaf{i, h})
			if len(batch) == verifyBatch {
				return send()
			}
			return nil
		})
		if (err == nil || errors.Is(err, errStop)) && len(batch) > 0 {
			if serr := send(); serr != nil {
				err = serr
			}
		}
		leafErr <- err
	}()
	leaves := &leafReader{ch: leafBatches}
	pending, more := leaves.next()

	tree := NewTree()
	lastSigned := uint64(0)
	appendLeaf := func(h []byte) error {
		if err := tree.Append(h); err != nil {
			return err
		}
		size := tree.Size()
		if w, ok := want[size]; ok {
			if !SameHash(tree.Root(), w.root) {
				r.addRange(int64(lastSigned)+1, int64(size), "activities %d to %d do not match %s", lastSigned+1, size, w.source)
			}
			lastSigned = size
		}
		return nil
	}
	// check compares one activity, in id order, with its stored leaf: h is
	// the leaf hash recomputed from the activity, or hashErr why it could
	// not be.
	check := func(a *auditlog.Activity, h []byte, hashErr error) error {
		r.Activities++
		index := uint64(a.ID - 1)
		if a.ID < 1 || index < tree.Size() {
			r.add(a.ID, "activity %d is out of order: it was inserted or renumbered", a.ID)
			return nil
		}
		// Leaves before this activity's have lost their activity.
		for more && pending.index < index {
			r.add(int64(pending.index)+1, "activity %d is missing: its leaf is in the tree but the activity is gone", pending.index+1)
			if err := appendLeaf(pending.hash); err != nil {
				return err
			}
			pending, more = leaves.next()
		}
		if tree.Size() < index {
			// Neither the activities nor their leaves are there: a stand-in
			// keeps the recomputed tree aligned with the ids that follow.
			r.add(int64(tree.Size())+1, "activities %d to %d are missing, and their leaves with them", tree.Size()+1, index)
			for tree.Size() < index {
				if err := appendLeaf(make([]byte, HashSize)); err != nil {
					return err
				}
			}
		}
		if hashErr != nil {
			return hashErr
		}
		switch {
		case !more || pending.index != index:
			r.add(a.ID, "activity %d is not in the Merkle tree: it was inserted after the fact", a.ID)
		case !SameHash(h, pending.hash):
			r.add(a.ID, "activity %d was altered: it no longer matches the leaf recorded with it", a.ID)
		}
		if more && pending.index == index {
			pending, more = leaves.next()
		}
		return appendLeaf(h)
	}
	err = hashInParallel(ctx, s, auditlog.Filter{OldestFirst: true, BeforeID: int64(head.Size) + 1}, check)
	if err != nil {
		return nil, err
	}
	for more {
		r.add(int64(pending.index)+1, "activity %d is missing: its leaf is in the tree but the activity is gone", pending.index+1)
		if err := appendLeaf(pending.hash); err != nil {
			return nil, err
		}
		pending, more = leaves.next()
	}
	if err := <-leafErr; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, errStop) {
		return nil, err
	}
	r.Leaves = tree.Size()

	// An activity added at the tail without a leaf is visible beyond the head
	// (a genuine one always has its leaf: both commit together).
	newest, _, err := s.FindActivities(ctx, auditlog.Filter{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(newest) == 1 && uint64(newest[0].ID) > head.Size {
		if _, err := s.TreeNodes(ctx, []auditlog.NodeID{{Level: 0, Index: uint64(newest[0].ID - 1)}}); auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
			r.add(newest[0].ID, "activity %d is not in the Merkle tree: it was inserted after the fact", newest[0].ID)
		} else if err != nil {
			return nil, err
		}
	}

	// What was signed must still be there: a cut-off tail leaves checkpoints
	// (or the saved one) larger than the log.
	for size, w := range want {
		if size > tree.Size() {
			r.add(int64(tree.Size())+1, "activities %d to %d are missing: %s covers them", tree.Size()+1, size, w.source)
		}
	}
	if r.Checkpoint != nil && tree.Size() > r.Checkpoint.Size {
		r.Uncovered = tree.Size() - r.Checkpoint.Size
	}
	if head.Size != tree.Size() || !SameHash(head.Root, tree.Root()) {
		r.add(0, "the stored tree nodes (size %d) differ from the tree of the stored leaves (size %d): proofs would not verify", head.Size, tree.Size())
	}
	return r, nil
}

// verifyBatch is how many activities (and stored leaves) travel together
// between the goroutines of Verify.
const verifyBatch = 512

type storedLeaf struct {
	index uint64
	hash  []byte
}

// leafReader hands out the stored leaves one at a time from their batches.
type leafReader struct {
	ch    <-chan []storedLeaf
	batch []storedLeaf
}

func (l *leafReader) next() (storedLeaf, bool) {
	for len(l.batch) == 0 {
		b, ok := <-l.ch
		if !ok {
			return storedLeaf{}, false
		}
		l.batch = b
	}
	leaf := l.batch[0]
	l.batch = l.batch[1:]
	return leaf, true
}

// hashBatch is a run of activities whose leaf hashes a worker computes.
type hashBatch struct {
	acts   []auditlog.Activity
	extra  []byte // the activities' extra values, end to end
	hashes [][]byte
	errs   []error
	done   chan struct{}
}

// hashInParallel streams the activities that f selects and calls check with
// each and its leaf hash, in order, from the calling goroutine; the leaf
// hashes (RFC 8785 canonical JSON and SHA-256, most of the cost of
// verifying) are computed ahead by one worker per CPU. A hashing error is
// handed to check with its activity, which returns it only where it would
// have hashed the activity itself. At most a few batches are held at once.
func hashInParallel(ctx context.Context, s auditlog.ActivityService, f auditlog.Filter, check func(a *auditlog.Activity, h []byte, hashErr error) error) error {
	workers := runtime.GOMAXPROCS(0)
	ahead := 2*workers + 2 // batches hashed or being hashed ahead of check
	work := make(chan *hashBatch, ahead+1)
	defer close(work)
	for range workers {
		go func() {
			for b := range work {
				for i := range b.acts {
					b.hashes[i], b.errs[i] = ActivityLeafHash(&b.acts[i])
				}
				close(b.done)
			}
		}()
	}
	newBatch := func() *hashBatch {
		return &hashBatch{acts: make([]auditlog.Activity, 0, verifyBatch), done: make(chan struct{})}
	}
	var queue []*hashBatch
	checkBatch := func(b *hashBatch) error {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := range b.acts {
			if err := check(&b.acts[i], b.hashes[i], b.errs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	submit := func(b *hashBatch) error {
		b.hashes, b.errs = make([][]byte, len(b.acts)), make([]error, len(b.acts))
		work <- b
		queue = append(queue, b)
		if len(queue) > ahead {
			head := queue[0]
			queue = queue[1:]
			return checkBatch(head)
		}
		return nil
	}
	cur := newBatch()
	err := s.StreamActivities(ctx, f, func(a *auditlog.Activity) error {
		c, extra := a.Retain(cur.extra)
		cur.acts, cur.extra = append(cur.acts, c), extra
		if len(cur.acts) < verifyBatch {
			return nil
		}
		b := cur
		cur = newBatch()
		return submit(b)
	})
	if err != nil {
		return err
	}
	if len(cur.acts) > 0 {
		if err := submit(cur); err != nil {
			return err
		}
	}
	for _, b := range queue {
		if err := checkBatch(b); err != nil {
			return err
		}
	}
	return nil
}

// ErrOtherLog is the error of a verifier key of another log than the
// store's: its checkpoints name another origin.
var ErrOtherLog = errors.New("the verifier key is of another log")

// sameLog refuses a verifier of another log than the checkpoints': when
// none of them names the verifier's origin, a failed signature says
// nothing about tampering.
func sameLog(checkpoints []auditlog.Checkpoint, v note.Verifier) error {
	if len(checkpoints) == 0 {
		return nil
	}
	var origin string
	for _, c := range checkpoints {
		first, _, _ := strings.Cut(string(c.Note), "\n")
		if first == v.Name() {
			return nil
		}
		origin = first
	}
	return fmt.Errorf("%w: the store's checkpoints are of log %q, the key of log %q", ErrOtherLog, origin, v.Name())
}
