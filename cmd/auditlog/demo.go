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

// demoSpan is how far back the demo's activities reach.
const demoSpan = 30 * 24 * time.Hour

// runDemo records realistic activities spread over the last 30 days.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	count := fs.Int("count", 10000, "how many activities to record")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed, to repeat a run")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *count < 1 {
		return auditlog.FieldErrorf("--count", "--count must be at least 1")
	}
	// The store stamps each commit with its clock; a simulated clock that
	// walks from 30 days ago to now spreads the activities over that span.
	// (created never decreases, so on a store with newer activities they
	// are stamped with the newest time instead.)
	batch := min(max(*count/2000, 1), auditlog.MaxBatch)
	start := time.Now().Add(-demoSpan)
	step := demoSpan / time.Duration(*count)
	var recorded atomic.Int64 // read by the store's writer goroutine
	store, err := sf.open(ctx, func() time.Time { return start.Add(time.Duration(recorded.Load()) * step) })
	if err != nil {
		return err
	}
	defer store.Close()

	bar := progress(stderr, *count)
	gen := demo.New(*seed, catalog.Builtin())
	for done := 0; done < *count; {
		n := min(batch, *count-done)
		acts := make([]auditlog.NewActivity, n)
		for i := range acts {
			acts[i] = gen.Next()
		}
		if _, err := store.RecordActivities(ctx, acts); err != nil {
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
