package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
)

// demoSpan is how far back the demo's activities reach by default.
const demoSpan = 30 * 24 * time.Hour

// shortSpan is the span below which the demo warns that its activities
// will cluster.
const shortSpan = 24 * time.Hour

// runDemo records realistic activities spread over the last --span, or,
// on a store holding newer activities, over the time since the newest.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	count := fs.Int("count", 10000, "how many activities to record")
	span := fs.Duration("span", demoSpan, "how far back from now the activities reach, e.g. 168h for a week; on a store with newer activities they start at the newest")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed, to repeat a run")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *count < 1 {
		return auditlog.FieldErrorf("--count", "--count must be at least 1")
	}
	if *span < time.Minute {
		return auditlog.FieldErrorf("--span", "--span must be at least a minute, such as 720h for 30 days")
	}
	// The store stamps each commit with its clock: a simulated clock that
	// walks over the span spreads the activities. It reads the real time
	// until the span is planned.
	var plan atomic.Pointer[spread]
	var recorded atomic.Int64 // read by the store's writer goroutine
	store, err := sf.open(ctx, func() time.Time { return plan.Load().at(recorded.Load()) })
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	newest, err := newestCreated(ctx, store)
	if err != nil {
		return err
	}
	p := planSpread(newest, now, *span, *count)
	if p.start.After(now.Add(-*span)) {
		noteNewerActivities(stderr, newest, now, *span, *count)
	}
	plan.Store(&p)

	batch := min(max(*count/2000, 1), auditlog.MaxBatch)
	bar := progress(stderr, *count)
	gen := demo.New(*seed, catalog.Builtin())
	for done := 0; done < *count; {
		n := min(batch, *count-done)
		acts := make([]auditlog.NewActivity, n)
		for i := range acts {
			acts[i] = gen.Next()
		}
		if _, err := store.RecordActivities(ctx, auditlog.RecordedByDemo, acts); err != nil {
			return fmt.Errorf("after %d activities: %w", done, err)
		}
		done += n
		recorded.Store(int64(done))
		if bar != nil {
			bar.Add(n)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if err := store.Analyze(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recorded %d demo activities in %s\n", *count, sf.location())
	return nil
}

// spread is the demo's clock: it starts at start and advances by step for
// every recorded activity.
type spread struct {
	start time.Time
	step  time.Duration
}

// at is the time after n recorded activities; the real time when s is nil.
func (s *spread) at(n int64) time.Time {
	if s == nil {
		return time.Now()
	}
	return s.start.Add(time.Duration(n) * s.step)
}

// planSpread spreads count activities over the span up to now, starting no
// earlier than newest: created never decreases with id, so the store would
// stamp earlier activities with newest anyway.
func planSpread(newest, now time.Time, span time.Duration, count int) spread {
	start := now.Add(-span)
	if newest.After(start) {
		start = newest
	}
	return spread{start: start, step: max(now.Sub(start), 0) / time.Duration(count)}
}

// newestCreated returns when the store's newest activity was created, or
// the zero time when it holds none.
func newestCreated(ctx context.Context, store auditlog.Store) (time.Time, error) {
	acts, _, err := store.FindActivities(ctx, auditlog.Filter{Limit: 1})
	if err != nil {
		return time.Time{}, fmt.Errorf("find the store's newest activity: %w", err)
	}
	if len(acts) == 0 {
		return time.Time{}, nil
	}
	return acts[0].Created, nil
}

// noteNewerActivities tells that the activities cannot reach span back
// because the store holds newer ones, and warns when they will cluster.
func noteNewerActivities(w io.Writer, newest, now time.Time, span time.Duration, count int) {
	since := now.Sub(newest)
	at := newest.UTC().Format("2006-01-02 15:04:05 MST")
	if since >= shortSpan {
		fmt.Fprintf(w, "auditlog demo: the store holds activities up to %s, and created times never go back: "+
			"the demo's activities spread over the %s since then, not over the last %s.\n", at, humanDuration(since), humanDuration(span))
		return
	}
	cluster := "will all get that time"
	if since >= time.Microsecond { // created keeps microseconds
		cluster = "will cluster in the " + humanDuration(since) + " since then"
	}
	fmt.Fprintf(w, `auditlog demo: warning: the store's newest activity was created at %s (serve's first start records the admin user, for one),
and created times never go back: the %d demo activities %s, and the histogram and the date filters will show them together.
For a spread over the last %s, fill a new store before its first serve: stop serve, then run auditlog demo and auditlog serve
on a fresh --data directory (or an empty database for --database-url).
`, at, count, cluster, humanDuration(span))
}

// humanDuration writes d for a person: in whole days from two days up.
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Second:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Microsecond).String()
}

// progress returns a progress bar on w when it is a terminal, else nil, so
// that scripts see no progress output.
func progress(w io.Writer, total int) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("recording"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("activities"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}
