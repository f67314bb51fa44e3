package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"github.com/auditlog/auditlog"
)

// Store is what the runner needs of the store.
type Store interface {
	auditlog.StreamService
	FindActivities(ctx context.Context, f auditlog.Filter) ([]auditlog.Activity, bool, error)
}

// Runner delivers the streams of a store: every stream that is not paused
// gets a worker, which delivers it while this node holds its lease (on
// several nodes, one node at a time delivers a stream, and another takes
// over when its lease runs out).
type Runner struct {
	Store Store
	// Node names this node in the leases; unique among the nodes.
	Node string
	// Origin is the log's origin (NATS message ids start with it).
	Origin string
	Log    *slog.Logger
	// Poll is how often it looks for streams and, when a stream has
	// delivered everything, for new activities: 1 s when 0.
	Poll time.Duration
	// LeaseFor is how long a lease lasts unrenewed: 15 s when 0. A
	// delivery attempt may take at most half of it.
	LeaseFor time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential back-off
	// after a failed attempt: 1 s and 5 minutes when 0.
	MinBackoff, MaxBackoff time.Duration
	// Observe, when set, is told of each attempt's outcome.
	Observe func(stream string, delivered int, err error)
}

func (r *Runner) defaults() {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&r.Poll, time.Second}, {&r.LeaseFor, 15 * time.Second}, {&r.MinBackoff, time.Second}, {&r.MaxBackoff, 5 * time.Minute}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
}

// Run delivers until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	r.defaults()
	type worker struct {
		stop context.CancelFunc
		done chan struct{}
	}
	workers := map[int64]*worker{}
	var wg sync.WaitGroup
	defer func() {
		for _, w := range workers {
			w.stop()
		}
		wg.Wait()
	}()
	for {
		streams, err := r.Store.Streams(ctx)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("listing the streams failed", "error", err)
		}
		wanted := map[int64]bool{}
		for _, s := range streams {
			if !s.Paused {
				wanted[s.ID] = true
			}
		}
		for id, w := range workers {
			select {
			case <-w.done: // it ended (deleted, or paused): start again if wanted
				delete(workers, id)
				continue
			default:
			}
			if !wanted[id] && err == nil {
				w.stop() // kept until it is done, so that no second worker starts beside it
			}
		}
		for id := range wanted {
			if workers[id] == nil {
				wctx, stop := context.WithCancel(ctx)
				w := &worker{stop: stop, done: make(chan struct{})}
				workers[id] = w
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(w.done)
					r.deliver(wctx, id)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.Poll):
		}
	}
}

// errLeaseLost ends a worker's run of deliveries: another node holds the
// stream now, or it was replayed, paused or deleted.
var errLeaseLost = errors.New("the stream's lease or cursor moved")

// deliver runs one stream until ctx ends, the stream is deleted or paused.
func (r *Runner) deliver(ctx context.Context, id int64) {
	var dest Destination
	defer func() {
		if dest != nil {
			dest.Close()
		}
	}()
	l := &lease{stream: id}
	for ctx.Err() == nil {
		s, err := r.current(ctx, l)
		switch {
		case auditlog.ErrorCode(err) == auditlog.ENOTFOUND, err == nil && s != nil && s.Paused:
			return
		case err != nil:
			if ctx.Err() == nil {
				r.Log.Warn("stream: reading the stream failed", "stream", id, "error", err)
			}
			sleep(ctx, r.Poll)
			continue
		case s == nil: // another node holds it
			sleep(ctx, r.Poll)
			continue
		}
		if dest == nil {
			if dest, err = r.open(ctx, s); err != nil {
				r.failed(ctx, s, 0, err)
				continue
			}
		}
		if err := r.drain(ctx, l, s, dest); err != nil && !errors.Is(err, errLeaseLost) && ctx.Err() == nil {
			r.Log.Warn("stream: delivery stopped", "stream", s.Name, "error", err)
		}
		sleep(ctx, r.Poll)
	}
}

// lease is a worker's view of its hold on a stream: held until until;
// when another node held it, not asked for again before retry.
type lease struct {
	stream       int64
	until, retry time.Time
}

// hold reports whether this node holds the stream's lease, renewing it
// once a third of it has passed: an attempt begun while it holds the
// lease (which takes at most half of it) ends before the lease does. A
// node that found the lease held by another asks again a third of a lease
// later, so that waiting nodes do not write to the store every poll.
func (r *Runner) hold(ctx context.Context, l *lease) (bool, error) {
	if time.Until(l.until) > r.LeaseFor*2/3 {
		return true, nil
	}
	if time.Now().Before(l.retry) {
		return false, nil
	}
	until := time.Now().Add(r.LeaseFor)
	held, err := r.Store.LeaseStream(ctx, l.stream, r.Node, until)
	if err != nil || !held {
		l.until = time.Time{}
		if err == nil {
			l.retry = time.Now().Add(r.LeaseFor / 3)
		}
		return false, err
	}
	l.until = until
	return true, nil
}

// current returns the stream as stored, or nil when another node holds
// its lease.
func (r *Runner) current(ctx context.Context, l *lease) (*auditlog.Stream, error) {
	held, err := r.hold(ctx, l)
	if err != nil || !held {
		return nil, err
	}
	return r.Store.FindStream(ctx, l.stream)
}

// drain delivers the stream's batches one after another from its cursor
// until nothing is new. The cursor's move is written behind the
// deliveries, one write in flight at a time (each extending the lease),
// so that delivery does not wait for the store between batches; a write
// that finds the cursor or the lease moved (a replay, a pause, another
// node) ends the run, and a crash between a delivery and its write only
// delivers that batch again.
func (r *Runner) drain(ctx context.Context, l *lease, s *auditlog.Stream, dest Destination) error {
	f, err := s.Selection()
	if err != nil {
		return err
	}
	f.OldestFirst, f.Limit = true, s.BatchSize
	acked, committed, uncommitted := s.Cursor, s.Cursor, 0
	var writing chan cursorWrite // the write in flight, if any
	finish := func(w cursorWrite) error {
		writing = nil
		if w.err != nil {
			return w.err
		}
		if !w.moved {
			l.until = time.Time{}
			return errLeaseLost
		}
		l.until, committed = w.until, w.to
		return nil
	}
	wait := func() error { return finish(<-writing) }
	defer func() {
		if writing != nil {
			wait()
		}
	}()
	recheck := time.Now().Add(r.Poll)
	for ctx.Err() == nil {
		if writing != nil {
			select {
			case w := <-writing:
				if err := finish(w); err != nil {
					return err
				}
			default:
			}
		}
		if writing == nil && acked != committed {
			writing = r.writeCursor(ctx, s.ID, committed, acked, uncommitted)
			uncommitted = 0
		}
		if time.Now().After(recheck) { // a pause shows here; a replay at the next write
			if cur, err := r.Store.FindStream(ctx, s.ID); err != nil || cur.Paused {
				return errors.Join(err, errLeaseLost)
			}
			recheck = time.Now().Add(r.Poll)
		}
		f.AfterID = acked
		d, err := r.batch(ctx, s, f)
		if err != nil || d == nil {
			if writing != nil {
				if werr := wait(); werr != nil {
					return werr
				}
			}
			if err == nil && acked != committed {
				continue // write what is left before resting
			}
			return err
		}
		if err := r.attemptUntilDone(ctx, l, s, dest, d); err != nil {
			return err
		}
		acked = d.Activities[len(d.Activities)-1].ID
		uncommitted += len(d.Activities)
		if r.Observe != nil {
			r.Observe(s.Name, len(d.Activities), nil)
		}
	}
	return ctx.Err()
}

// cursorWrite is the outcome of a write of the cursor.
type cursorWrite struct {
	to    int64
	until time.Time
	moved bool
	err   error
}

// writeCursor moves the cursor from one id to another in the background.
func (r *Runner) writeCursor(ctx context.Context, id, from, to int64, n int) chan cursorWrite {
	done := make(chan cursorWrite, 1)
	go func() {
		until := time.Now().Add(r.LeaseFor)
		moved, err := r.Store.StreamDelivered(ctx, id, r.Node, from, to, n, until)
		done <- cursorWrite{to: to, until: until, moved: moved, err: err}
	}()
	return done
}

// batch reads the next delivery, nil when nothing is new.
func (r *Runner) batch(ctx context.Context, s *auditlog.Stream, f auditlog.Filter) (*Delivery, error) {
	acts, _, err := r.Store.FindActivities(ctx, f)
	if err != nil || len(acts) == 0 {
		return nil, err
	}
	d := &Delivery{ID: fmt.Sprintf("stream%d-%d-%d", s.ID, acts[0].ID, acts[len(acts)-1].ID), Activities: acts}
	for _, a := range acts {
		p, err := encode(s.Format, a)
		if err != nil {
			return nil, fmt.Errorf("activity %d in %s: %w", a.ID, s.Format, err)
		}
		d.Payloads = append(d.Payloads, p)
	}
	return d, nil
}

// attemptUntilDone makes attempts at one delivery, the same activities
// and id at each, until it is acknowledged or the lease is lost.
func (r *Runner) attemptUntilDone(ctx context.Context, l *lease, s *auditlog.Stream, dest Destination, d *Delivery) error {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		held, err := r.hold(ctx, l)
		if err == nil && !held {
			return errLeaseLost
		}
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, r.LeaseFor/2)
			err = dest.Deliver(actx, *d)
			cancel()
		}
		if err == nil {
			return nil
		}
		r.failed(ctx, s, attempt, err)
	}
	return ctx.Err()
}

// failed records a failed attempt and waits out its back-off.
func (r *Runner) failed(ctx context.Context, s *auditlog.Stream, attempt int, err error) {
	if ctx.Err() != nil {
		return
	}
	wait := r.backoff(attempt)
	r.Log.Warn("stream delivery failed; retrying", "stream", s.Name, "error", err, "retry_in", wait.Round(time.Millisecond))
	if serr := r.Store.StreamFailed(ctx, s.ID, r.Node, err.Error()); serr != nil && ctx.Err() == nil {
		r.Log.Warn("stream: recording a failure failed", "stream", s.Name, "error", serr)
	}
	if r.Observe != nil {
		r.Observe(s.Name, 0, err)
	}
	sleep(ctx, wait)
}

// backoff is the wait after a failed attempt: exponential, with equal
// jitter, at most MaxBackoff.
func (r *Runner) backoff(attempt int) time.Duration {
	d := r.MaxBackoff
	if attempt < 30 {
		d = min(d, r.MinBackoff<<attempt)
	}
	return d/2 + mathrand.N(d/2+1)
}

// open opens a stream's destination.
func (r *Runner) open(ctx context.Context, s *auditlog.Stream) (Destination, error) {
	secret, err := r.Store.StreamSecret(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return Open(Config{Type: s.Type, URL: s.URL, Secret: secret, Subject: s.Subject, CAPEM: s.CAPEM, Origin: r.Origin})
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// encode is an activity in a stream's format.
func encode(format string, a auditlog.Activity) (json.RawMessage, error) {
	switch format {
	case auditlog.StreamFormatJSON:
		return json.Marshal(a)
	case auditlog.StreamFormatOCSF:
		return encodeOCSF(a)
	}
	return nil, fmt.Errorf("format %q is not available", format)
}

// Counter counts and finds activities, as the store does.
type Counter interface {
	CountActivities(ctx context.Context, f auditlog.Filter) (int64, error)
	FindActivities(ctx context.Context, f auditlog.Filter) ([]auditlog.Activity, bool, error)
}

// Backlog is what a stream has yet to deliver: the activities its filter
// selects after its cursor, and when the oldest of them was recorded
// (zero when there is none).
type Backlog struct {
	Activities int64
	Oldest     time.Time
}

// Seconds is how long the oldest activity has waited, at now.
func (b Backlog) Seconds(now time.Time) float64 {
	if b.Oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(b.Oldest).Seconds())
}

// Lag returns a stream's backlog.
func Lag(ctx context.Context, store Counter, st *auditlog.Stream) (Backlog, error) {
	f, err := st.Selection()
	if err != nil {
		return Backlog{}, err
	}
	f.AfterID = st.Cursor
	n, err := store.CountActivities(ctx, f)
	if err != nil || n == 0 {
		return Backlog{}, err
	}
	f.OldestFirst, f.Limit = true, 1
	oldest, _, err := store.FindActivities(ctx, f)
	if err != nil || len(oldest) == 0 {
		return Backlog{Activities: n}, err
	}
	return Backlog{Activities: n, Oldest: oldest[0].Created}, nil
}
