package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// countingReceiver is a webhook endpoint that counts the activities it
// receives and remembers the highest id, from each delivery's id (the
// activities of a delivery are dense when the stream has no filter).
type countingReceiver struct {
	received, highest atomic.Int64
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The delivery's id names its activities: stream<id>-<first>-<last>.
	var stream, first, last int64
	if _, err := fmt.Sscanf(r.Header.Get("webhook-id"), "stream%d-%d-%d", &stream, &first, &last); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	io.Copy(io.Discard, r.Body)
	c.highest.Store(max(c.highest.Load(), last))
	c.received.Add(last - first + 1)
	w.WriteHeader(http.StatusNoContent)
}

// streamFill is target 1's fill through a server that delivers every
// activity to a webhook stream meanwhile; it notes the stream's lag (ids
// recorded and not delivered) every 100 ms.
func streamFill(b *testing.B, rep *report, n int, bodies [][]byte) func(round int) ingestRun {
	return func(round int) ingestRun {
		dir := filepath.Join(workDir, fmt.Sprintf("stream-%d", round))
		defer os.RemoveAll(dir)
		data := filepath.Join(dir, "store")
		s := startServerScopes(b, data, "activities:read,activities:write,admin")
		rc := &countingReceiver{}
		hook := httptest.NewServer(rc)
		defer hook.Close()
		body := fmt.Sprintf(`{"name":"bench","type":"webhook","url":%q,"start":"beginning","batch_size":1000,"secret":%q}`, hook.URL, auditlog.NewWebhookSecret())
		if _, err := s.do("POST", "/api/v1/streams", []byte(body), http.StatusCreated); err != nil {
			b.Fatal(err)
		}
		var (
			mu       sync.Mutex
			acked    int
			worstLag int64
		)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				mu.Lock()
				lag := int64(acked) + ownActivities - rc.highest.Load()
				mu.Unlock()
				worstLag = max(worstLag, lag)
			}
		}()
		fill := newFillProgress(n)
		if _, err := s.ingest(bodiesOf(bodies), batchSize, ingestClients, func(done int) {
			mu.Lock()
			acked = done
			mu.Unlock()
			fill.mark(done)
		}); err != nil {
			b.Fatalf("HTTP ingest: %v", err)
		}
		close(stop)
		<-sampled
		lagAtEnd := int64(n) + ownActivities + 1 - rc.highest.Load() // the stream's creation is one more activity
		drainStart := time.Now()
		for rc.highest.Load() < int64(n)+ownActivities+1 {
			if time.Since(drainStart) > 5*time.Minute {
				b.Fatalf("the stream delivered up to %d of %d", rc.highest.Load(), n+ownActivities+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
		rep.printf("Round %d: the stream's lag (activities acknowledged to the clients and not yet delivered), sampled every 100 ms: at most %d; %d when the last batch was acknowledged, delivered %v later. The receiver got %d activities.\n\n",
			round, worstLag, lagAtEnd, time.Since(drainStart).Round(time.Millisecond), rc.received.Load())
		s.stop()
		return ingestRun{fill: fill, bytes: storeBytes(data)}
	}
}

// BenchmarkStreamWebhook: target 1's fill while a webhook stream delivers
// every activity (batches of 1,000) to a receiver on the same machine,
// against the same fill with no stream: delivery must cost at most 10% of
// the rate, and the lag must stay bounded.
func BenchmarkStreamWebhook(b *testing.B) {
	rep := newReport(b, "Streams: target 1's fill with a webhook stream delivering meanwhile")
	n, rounds, size, bodies, _ := ingestInput(b, "AUDITLOG_BENCH_INGEST_ROWS", 1_000_000)
	rep.printf("%d activities of %.0f bytes per side and round, 4 clients posting batches of 1,000 as in target 1; one side has a webhook stream (batch_size 1,000, from the beginning) whose receiver runs in the benchmark's process, reads each delivery and takes the ids from its webhook-id.\n\n", n, size)
	compareIngest(b, rep, n, rounds, ingestTargets{ratio: 0.9}, ingestSides{
		raw: "no stream", viaHTTP: "with a webhook stream",
		runRaw:  httpFill(b, n, bodies, startServer, nil),
		runHTTP: streamFill(b, rep, n, bodies),
	})
}
