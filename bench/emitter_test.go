package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/client"
)

// clientActivity is a benchmark activity as a producer hands it to the
// Go client.
func clientActivity(a auditlog.NewActivity) client.Activity {
	var extra map[string]any
	if len(a.Extra) > 0 {
		if err := json.Unmarshal(a.Extra, &extra); err != nil {
			panic(err)
		}
	}
	changes := make([]client.Change, len(a.Changes))
	for i, c := range a.Changes {
		changes[i] = client.Change{ColumnName: c.ColumnName, OldValue: c.OldValue, NewValue: c.NewValue}
	}
	return client.Activity{SystemName: a.SystemName, SubtypeSystemName: a.SubtypeSystemName, Operator: string(a.Operator),
		Username: a.Username, Extra: extra, ObjectID: a.ObjectID, ObjectType: a.ObjectType, ObjectName: a.ObjectName,
		Changes: changes, EventID: a.EventID}
}

// emitterFill is a fill of a fresh store through a client.Emitter fed by
// 4 producers, each emitting the next 1,000 activities at a time, as
// target 1's clients post them.
func emitterFill(b *testing.B, acts []client.Activity, spool bool) func(round int) ingestRun {
	return func(round int) ingestRun {
		dir := filepath.Join(workDir, fmt.Sprintf("emitter-%d", round))
		defer os.RemoveAll(dir)
		data := filepath.Join(dir, "store")
		s := startServer(b, data)
		c, err := client.New(client.Config{URL: s.base, Token: s.token})
		if err != nil {
			b.Fatal(err)
		}
		cfg := client.EmitterConfig{Client: c, BatchSize: batchSize, Concurrency: ingestClients}
		if spool {
			cfg.SpoolDir = filepath.Join(dir, "spool")
		}
		fill := newFillProgress(len(acts))
		e, err := client.NewEmitter(cfg)
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range ingestClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(batchSize) - batchSize)
					if i >= len(acts) {
						return
					}
					if err := e.Emit(context.Background(), acts[i:min(i+batchSize, len(acts))]...); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for !fill.complete() {
				fill.mark(int(e.Stats().Sent))
				time.Sleep(2 * time.Millisecond)
			}
		}()
		wg.Wait()
		if err := e.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		<-watched
		s.stop()
		if got, err := countActivities(data); err != nil || got != int64(len(acts))+ownActivities {
			b.Fatalf("the store holds %d activities (%v), want %d and the store's own %d", got, err, len(acts), ownActivities)
		}
		return ingestRun{fill: fill, bytes: storeBytes(data)}
	}
}

// BenchmarkEmitter: target 1's fill fed through the Go client's Emitter,
// without and with a spool, against the same fill posted by 4 clients
// (target 1's HTTP side), in one run: the emitter must cost at most 10%.
func BenchmarkEmitter(b *testing.B) {
	rep := newReport(b, "Go client: the Emitter feeding target 1's fill, against the same fill posted directly")
	n, rounds, size, bodies, _ := ingestInput(b, "AUDITLOG_BENCH_INGEST_ROWS", 1_000_000)
	raw := activities(1, n)
	acts := make([]client.Activity, n)
	for i, a := range raw {
		acts[i] = clientActivity(a)
	}
	raw = nil
	rep.printf("%d activities of %.0f bytes (the same event ids) per side and round. Posted directly: 4 clients send pre-encoded bodies of 1,000, as in target 1. Through the emitter: 4 producers call `Emit` with 1,000 activities at a time on one emitter (BatchSize 1,000, Concurrency 4), which encodes them, spools them (fsynced before `Emit` returns) when the spool is on, batches and posts them; a fill is done when the emitter has counted every activity acknowledged.\n\n", n, size)
	for _, side := range []struct {
		name  string
		spool bool
	}{{"emitter, no spool", false}, {"emitter, spool", true}} {
		rep.printf("### %s\n\n", side.name)
		compareIngest(b, rep, n, rounds, ingestTargets{ratio: 0.9}, ingestSides{
			raw: "posted directly", viaHTTP: side.name,
			runRaw:  httpFill(b, n, bodies, startServer, nil),
			runHTTP: emitterFill(b, acts, side.spool),
		})
	}
}

// BenchmarkEmitterOutage: 4 producers emit without pause while the server
// is down for 60 s (killed with SIGKILL, then started again): the
// emitter's heap must stay under its documented bound (twice the default
// MaxQueuedBytes) and every activity emitted must arrive once.
func BenchmarkEmitterOutage(b *testing.B) {
	rep := newReport(b, "Go client: the Emitter's memory while the server is down for 60 s under load")
	outage := envDuration(b, "AUDITLOG_BENCH_OUTAGE", time.Minute)
	dir := filepath.Join(workDir, "emitter-outage")
	defer os.RemoveAll(dir)
	s := startServer(b, filepath.Join(dir, "store"))
	c, err := client.New(client.Config{URL: s.base, Token: s.token})
	if err != nil {
		b.Fatal(err)
	}
	const defaultBound = 64 << 20 // EmitterConfig.MaxQueuedBytes when 0
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, BatchSize: batchSize, Concurrency: ingestClients})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	base := liveHeap()
	var emitted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range ingestClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := newActivityGen(uint64(100 + p))
			for {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]client.Activity, batchSize)
				for i := range batch {
					batch[i] = clientActivity(gen.next())
				}
				if err := e.Emit(context.Background(), batch...); err != nil {
					b.Error(err)
					return
				}
				emitted.Add(batchSize)
			}
		}()
	}
	var peak, peakInUse, peakRSS atomic.Uint64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for {
			peak.Store(max(peak.Load(), liveHeap()))
			peakInUse.Store(max(peakInUse.Load(), heapInUse()))
			if rss, err := procStatus(os.Getpid(), "VmRSS"); err == nil {
				peakRSS.Store(max(peakRSS.Load(), uint64(rss)))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	time.Sleep(5 * time.Second)
	before := e.Stats()
	s.kill()
	down := time.Now()
	time.Sleep(outage)
	during, downFor := e.Stats(), time.Since(down).Round(time.Second)
	downPeak, downInUse, downRSS := peak.Load(), peakInUse.Load(), peakRSS.Load()
	s.launch()
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()
	<-sampling
	closeStart := time.Now()
	if err := e.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	drained := time.Since(closeStart)
	after := e.Stats()
	s.stop()
	stored, err := countActivities(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	overhead := float64(downPeak-min(base, downPeak)) / (1 << 20)
	rep.printf("Default emitter (MaxQueuedBytes 64 MiB, BatchSize 1,000, Concurrency 4); 4 producers emitting 1,000 generated activities at a time without pause, for 5 s, then with the server killed (SIGKILL) for %v, then 5 s after it started again. The live heap (runtime/metrics `/gc/heap/live:bytes`: what the last collection kept, the producers' own batches included) is sampled every 100 ms, over the %.1f MiB before the load; the heap in use (with the garbage not collected yet) and the process's RSS beside it.\n\n", outage, float64(base)/(1<<20))
	rep.printf("| | activities sent | queued | queued bytes | retried |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		when string
		st   client.EmitterStats
	}{{"before the kill", before}, {fmt.Sprintf("%v into the outage", downFor), during}, {"after Close", after}} {
		rep.printf("| %s | %d | %d | %.1f MiB | %d |\n", r.when, r.st.Sent, r.st.Queued, float64(r.st.QueuedBytes)/(1<<20), r.st.Retried)
	}
	rep.printf("\nWhile the server was down, peak live heap over the baseline: %.1f MiB (bound: twice MaxQueuedBytes, %d MiB); peak heap in use %.1f MiB; peak RSS %.1f MiB. Close delivered the rest in %v. Emitted %d, stored %d (and the store's own %d).\n\n",
		overhead, 2*defaultBound>>20, float64(downInUse)/(1<<20), float64(downRSS)/1024, drained.Round(time.Millisecond), emitted.Load(), stored-ownActivities, ownActivities)
	rep.verdict("peak live heap over the baseline with the server down %v under load: %.1f MiB, bound %d MiB: %s; every emitted activity stored once: %s",
		outage, overhead, 2*defaultBound>>20, passFail(overhead <= 2*defaultBound>>20), passFail(stored-ownActivities == emitted.Load() && after.Sent == uint64(emitted.Load())))
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(overhead, "peak_heap_MiB")
}

// liveHeap is the heap the last garbage collection kept.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// heapInUse is the heap in use, garbage not yet collected included.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
