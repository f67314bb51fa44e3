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
				w.stop()
				delete(workers, id)
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

// errLeaseLost ends a worker's attempts at a delivery: another node holds
// the stream now, or it was replayed, paused or deleted.
var errLeaseLost = errors.New("the stream's lease or cursor moved")

// deliver runs one stream until ctx ends, the stream is deleted or paused.
func (r *Runner) deliver(ctx context.Context, id int64) {
	var dest Destination
	defer func() {
		if dest != nil {
			dest.Close()
		}
	}()
	lease := &lease{stream: id}
	for ctx.Err() == nil {
		s, d, err := r.next(ctx, lease)
		switch {
		case auditlog.ErrorCode(err) == auditlog.ENOTFOUND, err == nil && s != nil && s.Paused:
			return
		case err != nil:
			if ctx.Err() == nil {
				r.Log.Warn("stream: reading the next delivery failed", "stream", id, "error", err)
			}
			sleep(ctx, r.Poll)
			continue
		case d == nil: // another node holds it, or nothing is new
			sleep(ctx, r.Poll)
			continue
		}
		if dest == nil {
			if dest, err = r.open(ctx, s); err != nil {
				r.failed(ctx, s, 0, err)
				continue
			}
		}
		// One delivery, the same activities and id at every attempt, until
		// it is acknowledged or the stream moves away from it.
		for attempt := 0; ctx.Err() == nil; attempt++ {
			err := r.attempt(ctx, lease, s, dest, d)
			if err == nil || errors.Is(err, errLeaseLost) {
				break
			}
			r.failed(ctx, s, attempt, err)
		}
	}
}

// lease is a worker's view of its hold on a stream: held until until.
type lease struct {
	stream int64
	until  time.Time
}

// hold reports whether this node holds the stream's lease, renewing it
// once a third of it has passed: an attempt begun while it holds the
// lease (which takes at most half of it) ends before the lease does.
func (r *Runner) hold(ctx context.Context, l *lease) (bool, error) {
	if time.Until(l.until) > r.LeaseFor*2/3 {
		return true, nil
	}
	until := time.Now().Add(r.LeaseFor)
	held, err := r.Store.LeaseStream(ctx, l.stream, r.Node, until)
	if err != nil || !held {
		l.until = time.Time{}
		return false, err
	}
	l.until = until
	return true, nil
}

// next returns the stream and its next delivery (nil when nothing is new
// or another node holds the stream's lease).
func (r *Runner) next(ctx context.Context, l *lease) (*auditlog.Stream, *Delivery, error) {
	held, err := r.hold(ctx, l)
	if err != nil || !held {
		return nil, nil, err
	}
	s, err := r.Store.FindStream(ctx, l.stream)
	if err != nil || s.Paused {
		return s, nil, err
	}
	f, err := s.Selection()
	if err != nil {
		return nil, nil, err
	}
	f.AfterID, f.OldestFirst, f.Limit = s.Cursor, true, s.BatchSize
	acts, _, err := r.Store.FindActivities(ctx, f)
	if err != nil || len(acts) == 0 {
		return s, nil, err
	}
	d := &Delivery{ID: fmt.Sprintf("stream%d-%d-%d", s.ID, acts[0].ID, acts[len(acts)-1].ID), Activities: acts}
	for _, a := range acts {
		p, err := encode(s.Format, a)
		if err != nil {
			return nil, nil, fmt.Errorf("activity %d in %s: %w", a.ID, s.Format, err)
		}
		d.Payloads = append(d.Payloads, p)
	}
	return s, d, nil
}

// attempt makes one attempt at a delivery, keeping the lease, and moves
// the cursor past it once acknowledged.
func (r *Runner) attempt(ctx context.Context, l *lease, s *auditlog.Stream, dest Destination, d *Delivery) error {
	held, err := r.hold(ctx, l)
	if err != nil {
		return err
	}
	if !held {
		return errLeaseLost
	}
	actx, cancel := context.WithTimeout(ctx, r.LeaseFor/2)
	err = dest.Deliver(actx, *d)
	cancel()
	if err != nil {
		return err
	}
	last := d.Activities[len(d.Activities)-1].ID
	until := time.Now().Add(r.LeaseFor)
	moved, err := r.Store.StreamDelivered(ctx, s.ID, r.Node, s.Cursor, last, len(d.Activities), until)
	if err != nil {
		return err
	}
	if moved {
		l.until = until
	} else {
		l.until = time.Time{}
	}
	if r.Observe != nil {
		r.Observe(s.Name, len(d.Activities), nil)
	}
	if !moved {
		return errLeaseLost
	}
	return nil
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

// Check refuses a stream this build cannot deliver: a destination type it
// does not implement. (It implements every format; NewStream.Check
// refuses an unknown one.)
func Check(ns auditlog.NewStream) error {
	if _, ok := openers[ns.Type]; !ok {
		if _, known := map[string]bool{TypeWebhook: true, TypeSyslog: true, TypeNATS: true, TypeSplunkHEC: true}[ns.Type]; known {
			return auditlog.FieldErrorf("type", "%s streams are not available in this version", ns.Type)
		}
	}
	return nil
}

// Counter counts activities, as the store does.
type Counter interface {
	CountActivities(ctx context.Context, f auditlog.Filter) (int64, error)
}

// Lag counts the activities a stream has yet to deliver: those its filter
// selects after its cursor.
func Lag(ctx context.Context, store Counter, st *auditlog.Stream) (int64, error) {
	f, err := st.Selection()
	if err != nil {
		return 0, err
	}
	f.AfterID = st.Cursor
	return store.CountActivities(ctx, f)
}
