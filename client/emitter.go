package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	mathrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// EmitterConfig configures an Emitter. Only Client is required.
type EmitterConfig struct {
	// Client records the batches; its token needs activities:write.
	Client *Client
	// SpoolDir, when set, is a directory where every emitted activity is
	// kept (fsynced before Emit returns) until the server acknowledges it,
	// so that it survives a crash of this process; a new emitter on the
	// same directory delivers what an earlier one left. One emitter at a
	// time uses a directory.
	SpoolDir string
	// BatchSize is the most activities in one request: 500 when 0, at most
	// 1,000.
	BatchSize int
	// FlushInterval is the longest an activity waits for its batch to
	// fill: 200 ms when 0.
	FlushInterval time.Duration
	// Concurrency is the number of batches in flight at once: 4 when 0.
	// With 1, activities are recorded in the order they were emitted.
	Concurrency int
	// MaxQueuedBytes bounds the memory the queue holds: the JSON size of
	// the activities emitted and not yet acknowledged (those in flight
	// included). When it is reached Emit blocks until the server has
	// acknowledged enough of them, or until its context ends (then
	// nothing of that call is queued). 64 MiB when 0. The emitter's live
	// memory is at most about twice this bound (the queue, and the bodies
	// of the requests in flight); with Go's default GOGC the heap may grow
	// to twice the live memory between collections.
	MaxQueuedBytes int64
	// MinBackoff and MaxBackoff bound the jittered exponential back-off
	// between attempts while the server is unreachable or answers 429 or
	// 5xx (100 ms and 30 s when 0); a Retry-After longer than the back-off
	// is honoured. A batch is retried for as long as the emitter runs.
	MinBackoff, MaxBackoff time.Duration
	// OnRefused is called with each activity the server refused with a 4xx
	// (never retried), and the server's *Error; the other activities of
	// its batch are still delivered. It runs on the emitter's goroutines:
	// it should return quickly. When nil, each is written to the standard
	// logger (package log) with the server's error.
	OnRefused func(Activity, error)
	// OnSpoolError is told of spool records that do not check (torn or
	// corrupted), which are skipped, and of spool files it cannot remove.
	OnSpoolError func(error)
}

// EmitterStats are an emitter's counters.
type EmitterStats struct {
	// Queued is the number of activities emitted and not yet acknowledged
	// (in flight included), QueuedBytes their JSON size.
	Queued, QueuedBytes int64
	// Sent counts activities the server acknowledged, Retried activities
	// sent again after a failed attempt (one retried twice counts twice),
	// Refused those the server refused with a 4xx (the dead letters).
	Sent, Retried, Refused uint64
	// SpoolErrors counts spool records skipped because they do not check.
	SpoolErrors uint64
	// LastError is the last error of a delivery attempt, "" if none.
	LastError string
}

// ErrClosed is the error of Emit on a closed emitter.
var ErrClosed = errors.New("auditlog: the emitter is closed")

// Emitter records activities in the background: it batches them by size
// and time, gives each an event_id when it is emitted (so that no retry
// records it twice), retries what the server did not acknowledge, and
// never blocks the activities behind one the server refuses. It is safe
// for concurrent use.
type Emitter struct {
	cfg   EmitterConfig
	spool *spool
	// spoolWrites carries Emit calls to the spool's writer, which writes
	// and fsyncs the ones waiting together.
	spoolWrites chan *spoolWrite

	mu          sync.Mutex
	queue       []*record // emitted and not in flight, oldest first
	queued      int64     // emitted and not acknowledged
	queuedBytes int64
	closed      bool
	// room is closed (and replaced) whenever records are acknowledged.
	room chan struct{}
	// wake tells the dispatcher that records were queued or a flush asked.
	wake chan struct{}
	// recovering is done once the spool segments found at start are
	// queued, or the emitter stopped; unqueued counts the records read
	// from them and not queued yet, unread the segments not read yet.
	recovering sync.WaitGroup
	unqueued   int64
	unread     []*segment

	batches     chan []*record
	stopSending context.CancelFunc
	sending     context.Context
	workers     sync.WaitGroup

	sent, retried, refused, spoolErrors atomic.Uint64
	lastError                           atomic.Pointer[string]
}

// record is an emitted activity: its JSON (event_id set) and the spool
// segment it is kept in.
type record struct {
	body []byte
	seg  *segment
}

type spoolWrite struct {
	records []*record
	done    chan error
}

// NewEmitter starts an emitter. With SpoolDir, it first queues the
// activities an earlier emitter left in the spool.
func NewEmitter(cfg EmitterConfig) (*Emitter, error) {
	if cfg.Client == nil {
		return nil, errors.New("auditlog: EmitterConfig.Client is required")
	}
	if cfg.BatchSize > 1000 || cfg.BatchSize < 0 {
		return nil, fmt.Errorf("auditlog: EmitterConfig.BatchSize %d: at most 1,000 activities go in one request", cfg.BatchSize)
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&cfg.FlushInterval, 200 * time.Millisecond}, {&cfg.MinBackoff, 100 * time.Millisecond}, {&cfg.MaxBackoff, 30 * time.Second}}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 500
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxQueuedBytes <= 0 {
		cfg.MaxQueuedBytes = 64 << 20
	}
	if cfg.OnRefused == nil {
		cfg.OnRefused = func(a Activity, err error) {
			log.Printf("auditlog: the server refused activity %s (%s), which is not sent again: %v", a.EventID, a.SystemName, err)
		}
	}
	e := &Emitter{cfg: cfg, room: make(chan struct{}), wake: make(chan struct{}, 1), batches: make(chan []*record)}
	e.sending, e.stopSending = context.WithCancel(context.Background())
	var found []*segment
	if cfg.SpoolDir != "" {
		var err error
		if e.spool, found, err = openSpool(cfg.SpoolDir, e.reportSpool); err != nil {
			return nil, err
		}
		e.spoolWrites = make(chan *spoolWrite)
		e.workers.Add(1)
		go e.writeSpool()
	}
	e.workers.Add(1 + cfg.Concurrency)
	go e.dispatch()
	for range cfg.Concurrency {
		go e.send()
	}
	if len(found) > 0 {
		e.unread = found
		e.recovering.Add(1)
		go e.recover()
	}
	return e, nil
}

// Emit queues activities and returns once they are queued; with a spool,
// once they are on disk. Each gets an event_id if it has none. It blocks
// while the queue is at MaxQueuedBytes (see EmitterConfig); if ctx ends
// first, none of them is queued.
func (e *Emitter) Emit(ctx context.Context, activities ...Activity) error {
	if len(activities) == 0 {
		return nil
	}
	records := make([]*record, len(activities))
	var size int64
	for i, a := range activities {
		if a.EventID == "" {
			a.EventID = newEventID()
		}
		body, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("auditlog: encoding activity %d: %w", i, err)
		}
		records[i] = &record{body: body}
		size += int64(len(body))
	}
	if size > e.cfg.MaxQueuedBytes {
		return fmt.Errorf("auditlog: %d bytes of activities in one Emit, over EmitterConfig.MaxQueuedBytes (%d)", size, e.cfg.MaxQueuedBytes)
	}
	if err := e.reserve(ctx, int64(len(records)), size, false); err != nil {
		return err
	}
	if e.spool == nil {
		e.enqueue(records)
		return nil
	}
	w := &spoolWrite{records: records, done: make(chan error, 1)}
	select {
	case e.spoolWrites <- w:
	case <-e.sending.Done(): // Close gave up waiting
		e.release(int64(len(records)), size)
		return ErrClosed
	}
	if err := <-w.done; err != nil {
		e.release(int64(len(records)), size)
		return err
	}
	return nil
}

// reserve counts records as queued once the queue has room for them.
func (e *Emitter) reserve(ctx context.Context, n, size int64, evenIfClosed bool) error {
	for {
		e.mu.Lock()
		if e.closed && !evenIfClosed {
			e.mu.Unlock()
			return ErrClosed
		}
		if e.queuedBytes == 0 || e.queuedBytes+size <= e.cfg.MaxQueuedBytes {
			e.queued += n
			e.queuedBytes += size
			e.mu.Unlock()
			return nil
		}
		room := e.room
		e.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("auditlog: the emitter's queue is full (%d bytes): %w", e.cfg.MaxQueuedBytes, ctx.Err())
		}
	}
}

// release counts records as no longer queued: acknowledged, refused or
// never queued after all.
func (e *Emitter) release(n, size int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queued -= n
	e.queuedBytes -= size
	close(e.room)
	e.room = make(chan struct{})
}

// enqueue hands reserved records to the dispatcher.
func (e *Emitter) enqueue(records []*record) {
	e.mu.Lock()
	e.queue = append(e.queue, records...)
	e.mu.Unlock()
	e.poke()
}

func (e *Emitter) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// writeSpool writes the Emit calls waiting, fsyncs them at once, and
// queues their records in the order written.
func (e *Emitter) writeSpool() {
	defer e.workers.Done()
	for {
		var group []*spoolWrite
		select {
		case w := <-e.spoolWrites:
			group = append(group, w)
		case <-e.sending.Done():
			return
		}
	more:
		for {
			select {
			case w := <-e.spoolWrites:
				group = append(group, w)
			default:
				break more
			}
		}
		var payloads [][]byte
		for _, w := range group {
			for _, r := range w.records {
				payloads = append(payloads, r.body)
			}
		}
		seg, err := e.spool.write(payloads)
		for _, w := range group {
			if err == nil {
				for _, r := range w.records {
					r.seg = seg
				}
				e.enqueue(w.records)
			}
			w.done <- err
		}
	}
}

// recover queues the records of the spool segments found at start.
func (e *Emitter) recover() {
	defer e.recovering.Done()
	for {
		e.mu.Lock()
		if len(e.unread) == 0 {
			e.mu.Unlock()
			return
		}
		seg := e.unread[0]
		e.unread = e.unread[1:]
		e.mu.Unlock()
		payloads, err := e.spool.read(seg, e.reportSpool)
		if err != nil {
			e.reportSpool(fmt.Errorf("auditlog: spool %s: %w", seg.path, err))
			continue
		}
		if len(payloads) == 0 {
			e.spool.acknowledge(seg, 0)
			continue
		}
		e.mu.Lock()
		e.unqueued += int64(len(payloads))
		e.mu.Unlock()
		for _, p := range payloads {
			if e.reserve(e.sending, 1, int64(len(p)), true) != nil {
				return // stopped: the rest stays in the spool
			}
			e.mu.Lock()
			e.unqueued--
			e.mu.Unlock()
			e.enqueue([]*record{{body: p, seg: seg}})
		}
	}
}

// dispatch cuts the queue into batches: a full one at once, a partial one
// when its oldest activity has waited FlushInterval, or at Close.
func (e *Emitter) dispatch() {
	defer e.workers.Done()
	var deadline <-chan time.Time
	due := false // the oldest queued activity has waited FlushInterval
	for {
		e.mu.Lock()
		n := len(e.queue)
		due = due && n > 0
		var batch []*record
		if n >= e.cfg.BatchSize || (n > 0 && (e.closed || due)) {
			take := min(n, e.cfg.BatchSize)
			batch = append(batch, e.queue[:take]...)
			e.queue = e.queue[take:]
		}
		e.mu.Unlock()
		if batch != nil {
			deadline, due = nil, false
			select {
			case e.batches <- batch:
			case <-e.sending.Done():
				return
			}
			continue
		}
		if n > 0 && deadline == nil {
			deadline = time.After(e.cfg.FlushInterval)
		}
		select {
		case <-e.wake:
		case <-deadline:
			deadline, due = nil, true
		case <-e.sending.Done():
			return
		}
	}
}

// send delivers batches until the emitter stops.
func (e *Emitter) send() {
	defer e.workers.Done()
	for {
		select {
		case batch := <-e.batches:
			e.deliver(batch)
		case <-e.sending.Done():
			return
		}
	}
}

// deliver records a batch: retried while the server is unreachable or
// answers 429 or 5xx; an activity it refuses goes to OnRefused and the
// rest are sent again at once; a batch over the body limit is halved.
func (e *Emitter) deliver(batch []*record) {
	for attempt := 0; len(batch) > 0; {
		_, err := e.cfg.Client.recordBody(e.sending, batchBody(batch))
		if err == nil {
			e.sent.Add(uint64(len(batch)))
			e.acknowledge(batch)
			return
		}
		if e.sending.Err() != nil {
			return // stopped: what is unacknowledged stays in the spool
		}
		msg := err.Error()
		e.lastError.Store(&msg)
		var refused *Error
		if errors.As(err, &refused) && !refused.Temporary() {
			switch {
			case refused.Index >= 0 && refused.Index < len(batch):
				e.refuse(batch[refused.Index:refused.Index+1], refused)
				batch = append(batch[:refused.Index:refused.Index], batch[refused.Index+1:]...)
			case refused.StatusCode == http.StatusRequestEntityTooLarge && len(batch) > 1:
				half := len(batch) / 2
				e.deliver(batch[:half])
				batch = batch[half:]
			default:
				e.refuse(batch, refused)
				return
			}
			continue
		}
		wait := e.backoff(attempt)
		if refused != nil && refused.RetryAfter > wait {
			wait = refused.RetryAfter
		}
		attempt++
		select {
		case <-time.After(wait):
			e.retried.Add(uint64(len(batch)))
		case <-e.sending.Done():
			return
		}
	}
}

// backoff is the wait before attempt+1: exponential, with equal jitter.
func (e *Emitter) backoff(attempt int) time.Duration {
	d := e.cfg.MaxBackoff
	if attempt < 30 {
		d = min(d, e.cfg.MinBackoff<<attempt)
	}
	return d/2 + mathrand.N(d/2+1)
}

// batchBody is the request body of a batch.
func batchBody(batch []*record) []byte {
	n := 20
	for _, r := range batch {
		n += len(r.body) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"activities":[`...)
	for i, r := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r.body...)
	}
	return append(body, "]}"...)
}

// refuse hands activities the server refused to OnRefused; they are
// never sent again.
func (e *Emitter) refuse(records []*record, err *Error) {
	e.refused.Add(uint64(len(records)))
	for _, r := range records {
		var a Activity
		if json.Unmarshal(r.body, &a) == nil {
			e.cfg.OnRefused(a, err)
		}
	}
	e.acknowledge(records)
}

// acknowledge removes delivered (or refused) records from the queue and
// the spool.
func (e *Emitter) acknowledge(records []*record) {
	var size int64
	bySegment := map[*segment]int{}
	for _, r := range records {
		size += int64(len(r.body))
		if r.seg != nil {
			bySegment[r.seg]++
		}
	}
	for seg, n := range bySegment {
		e.spool.acknowledge(seg, n)
	}
	e.release(int64(len(records)), size)
}

func (e *Emitter) reportSpool(err error) {
	e.spoolErrors.Add(1)
	if e.cfg.OnSpoolError != nil {
		e.cfg.OnSpoolError(err)
	}
}

// Stats returns the emitter's counters.
func (e *Emitter) Stats() EmitterStats {
	e.mu.Lock()
	s := EmitterStats{Queued: e.queued, QueuedBytes: e.queuedBytes}
	e.mu.Unlock()
	s.Sent, s.Retried, s.Refused, s.SpoolErrors = e.sent.Load(), e.retried.Load(), e.refused.Load(), e.spoolErrors.Load()
	if msg := e.lastError.Load(); msg != nil {
		s.LastError = *msg
	}
	return s
}

// Close stops accepting activities and delivers what is queued, waiting
// until ctx ends. What is still undelivered then stays in the spool, for
// the next emitter on it; without a spool it is lost, and the error says
// how many.
func (e *Emitter) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	e.mu.Unlock()
	e.poke()
	recovered := make(chan struct{})
	go func() { e.recovering.Wait(); close(recovered) }()
	select {
	case <-recovered:
	case <-ctx.Done():
	}
	var left int64
	for {
		e.mu.Lock()
		left = e.queued
		room := e.room
		e.mu.Unlock()
		if left == 0 || ctx.Err() != nil {
			break
		}
		select {
		case <-room:
		case <-ctx.Done():
		}
	}
	e.stopSending()
	e.workers.Wait()
	e.recovering.Wait()
	e.mu.Lock()
	left = e.queued
	e.mu.Unlock()
	if e.spool != nil {
		// What the recovery did not queue is still in the spool.
		left += e.unqueued
		for _, seg := range e.unread {
			records, _ := e.spool.read(seg, func(error) {})
			left += int64(len(records))
		}
		e.spool.close()
	}
	if left == 0 {
		return nil
	}
	if e.spool != nil {
		return fmt.Errorf("auditlog: %d activities were not delivered before the context ended; they stay in the spool %s: %w", left, e.cfg.SpoolDir, ctx.Err())
	}
	return fmt.Errorf("auditlog: %d activities were not delivered before the context ended, and are lost (no SpoolDir): %w", left, ctx.Err())
}

// newEventID returns a random (version 4) UUID.
func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
