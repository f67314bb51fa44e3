package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// IndexBatch is how many activities one transaction of an indexer adds.
	IndexBatch = 2000
	// indexShare is the share of the time an indexer takes while the
	// writer commits: behind a burst of recording it falls behind and
	// catches up once the burst is over, rather than slowing it down
	// (docs/performance.md has what it costs recording, and the lag).
	indexShare = 0.15
	// writerBusy is how long after a commit the writer counts as busy.
	writerBusy = 100 * time.Millisecond
	// indexPoll is how often an indexer with nothing to do looks again,
	// and a search waiting for the index looks how far it is: another
	// node may be the one indexing.
	indexPoll = 50 * time.Millisecond
)

// An Indexer keeps a store's full-text index just behind its writer, in
// transactions of its own, each indexing the activities committed after
// the last it indexed, in id order, and recording how far it got, so that
// it resumes there after a crash. One that is not started (a store opened
// read-only) only reads how far the index is, and waits for other nodes.
type Indexer struct {
	// Next indexes, in one transaction, the activities after the last
	// indexed, at most IndexBatch, and returns how many: none when all
	// are, or when another node of the store is indexing them.
	Next func(ctx context.Context) (int, error)
	// Indexed reads the id up to which the index holds every activity.
	Indexed func(ctx context.Context) (int64, error)
	// Log receives the errors of Next, which is tried again a second later.
	Log *slog.Logger

	lastCommit atomic.Int64 // UnixNano of the writer's last commit
	wake       chan struct{}
	mu         sync.Mutex
	moved      chan struct{} // closed, and replaced, after each Next that indexed
	stop       context.CancelFunc
	done       chan struct{}
}

// Start runs the indexer until Close.
func (x *Indexer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	x.wake, x.moved = make(chan struct{}, 1), make(chan struct{})
	x.stop, x.done = cancel, make(chan struct{})
	go x.run(ctx)
}

// Committed tells the indexer that the writer committed.
func (x *Indexer) Committed() {
	x.lastCommit.Store(time.Now().UnixNano())
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *Indexer) run(ctx context.Context) {
	defer close(x.done)
	for {
		start := time.Now()
		n, err := x.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		var pause time.Duration
		switch {
		case err != nil:
			x.Log.Error("search index", "err", err)
			pause = time.Second
		case n == 0:
			select {
			case <-x.wake:
			case <-time.After(indexPoll):
			case <-ctx.Done():
				return
			}
			continue
		case time.Since(time.Unix(0, x.lastCommit.Load())) < writerBusy:
			pause = time.Duration(float64(time.Since(start)) * (1 - indexShare) / indexShare)
		}
		if n > 0 {
			x.mu.Lock()
			close(x.moved)
			x.moved = make(chan struct{})
			x.mu.Unlock()
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
	}
}

// Through implements IndexKeeper.
func (x *Indexer) Through(ctx context.Context) (int64, error) { return x.Indexed(ctx) }

// Await implements IndexKeeper.
func (x *Indexer) Await(ctx context.Context, id int64) error {
	deadline := time.NewTimer(IndexWait)
	defer deadline.Stop()
	for {
		x.mu.Lock()
		moved := x.moved
		x.mu.Unlock()
		through, err := x.Indexed(ctx)
		if err != nil || through >= id {
			return err
		}
		select {
		case <-moved:
		case <-time.After(indexPoll):
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the indexer, waiting for the transaction it is in.
func (x *Indexer) Close() {
	if x.stop != nil {
		x.stop()
		<-x.done
	}
}
