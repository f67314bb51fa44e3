package bench

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
	"github.com/auditlog/auditlog/witness/witnesstest"
)

// Targets, from the store-core issue (one store core, fast at any size).
const (
	targetIngestRatio = 0.8                  // HTTP ingest rate / raw SQLite insert rate, over the whole fill
	targetTenthRatio  = 0.8                  // HTTP ingest rate over the last tenth of the fill / over the first
	targetListP95     = 5 * time.Millisecond // first page, every filter, 1,000,000 activities
	targetSingleP99   = 3 * time.Millisecond // one activity per request, sequential client
	batchSize         = 1000                 // activities per ingest request and per raw transaction
	ingestClients     = 4                    // concurrent HTTP clients
	datasetRows       = 1_000_000            // activities behind the list and single-record figures
	memoryRows        = 1_000_000            // activities ingested while watching the RSS
	listRequests      = 200                  // timed requests per filter
	singleRequests    = 3000                 // timed single-activity requests
)

// BenchmarkIngestVsRawSQLite (target 1): a fill from empty to 1,000,000
// ~600-byte activities through HTTP, in batches of 1,000 from 4 concurrent
// clients, against inserting the same rows straight into SQLite with the
// store's pragmas, tables and indexes in 1,000-row transactions through a
// prepared single-row INSERT. Each round fills fresh databases both ways;
// the whole-fill ratio is taken between the best round of each, and the
// rate of each tenth of the fill shows how the cost grows with the store.
func BenchmarkIngestVsRawSQLite(b *testing.B) {
	rep := newReport(b, "Target 1: HTTP ingest against raw SQLite inserts, a fill from empty")
	n, rounds, size, bodies, rows := ingestInput(b, "AUDITLOG_BENCH_INGEST_ROWS", 1_000_000)
	bodyBytes := 0
	for _, body := range bodies {
		bodyBytes += len(body)
	}

	rep.printf("%d activities per side and round, mean activity JSON %.0f bytes, %d request bodies of %d activities (mean %.0f KiB). Bytes on disk: the database file and its WAL once the fill is done and the database closed.\n\n",
		n, size, len(bodies), batchSize, float64(bodyBytes)/float64(len(bodies))/1024)
	compareIngest(b, rep, n, rounds, ingestTargets{ratio: targetIngestRatio, lastTenth: targetTenthRatio}, ingestSides{
		raw: "raw SQLite", viaHTTP: "HTTP",
		runRaw:  rawFill(b, n, rows),
		runHTTP: httpFill(b, n, bodies, startServer, func(s *server) { indexCatchUp(b, rep, s) }),
	})
	b.ReportMetric(size, "activity_bytes")
}

// indexCatchUp reports how far the search index was behind when the fill
// ended, and how long it took to hold every activity.
func indexCatchUp(b *testing.B, rep *report, s *server) {
	start := time.Now()
	first := s.awaitIndex(b)
	rep.printf("The search index, kept behind the writer, held the activities up to %d when the last batch was acknowledged, and all of them %.1f s later.\n\n", first, time.Since(start).Seconds())
}

// awaitIndex waits until the server's search index holds every activity,
// and returns how far it was when the wait began.
func (s *server) awaitIndex(b *testing.B) (first int64) {
	first = -1
	for {
		body, err := s.do("GET", "/api/v1/activities?q=id:1&limit=1", nil, http.StatusOK)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Through int64 `json:"search_indexed_through"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		if first < 0 {
			first = page.Through
		}
		if page.Through == s.newest(b) {
			return first
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkIngestWitnessed is target 1's fill with a witness (torchwood's
// litewitness) cosigning every checkpoint the server signs meanwhile:
// witnessing must not lower the ratio.
func BenchmarkIngestWitnessed(b *testing.B) {
	rep := newReport(b, "Witnessed ingest: target 1's fill with a litewitness cosigning each checkpoint")
	n, rounds, size, bodies, rows := ingestInput(b, "AUDITLOG_BENCH_INGEST_ROWS", 1_000_000)
	const origin = "auditlog.bench/witnessed"
	skey, err := tlog.GenerateKey(origin)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	round := 0
	start := func(b *testing.B, data string) *server {
		// A witness of its own for each round's fresh log.
		w := witnesstest.Start(b, origin, signer.VerifierKey)
		token := strings.TrimSpace(run(b, "token", "create", "--data", data, "--name", "bench", "--scopes", "activities:read,activities:write"))
		return startServerWith(b, []string{"--data", data, "--witness", w.VerifierKey + " " + w.URL}, data+"-serve.log", token, "AUDITLOG_SIGNING_KEY="+skey)
	}
	witnessed := func(s *server) {
		body, err := s.do("GET", "/api/v1/witnesses", nil, http.StatusOK)
		if err != nil {
			b.Fatal(err)
		}
		round++
		rep.printf("Round %d, the witness's state as the fill ended: `%s`\n\n", round, strings.TrimSpace(string(body)))
	}
	rep.printf("%d activities per side and round, as in target 1; the server submits each checkpoint it signs (every half second while the fill runs) to a litewitness on the same machine, which checks its consistency proof and cosigns it.\n\n", n)
	compareIngest(b, rep, n, rounds, ingestTargets{ratio: targetIngestRatio, lastTenth: targetTenthRatio}, ingestSides{
		raw: "raw SQLite", viaHTTP: "HTTP, witnessed",
		runRaw:  rawFill(b, n, rows),
		runHTTP: httpFill(b, n, bodies, start, witnessed),
	})
	b.ReportMetric(size, "activity_bytes")
}

// rawFill is the raw side of an ingest comparison: the rows inserted
// straight into a fresh SQLite database.
func rawFill(b *testing.B, n int, rows []rawRow) func(round int) ingestRun {
	return func(round int) ingestRun {
		dir := filepath.Join(workDir, fmt.Sprintf("ingest-%d", round))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, "raw.db")
		fill := newFillProgress(n)
		if err := rawInsert(path, rows, batchSize, fill); err != nil {
			b.Fatalf("raw insert: %v", err)
		}
		return ingestRun{fill: fill, bytes: sqliteBytes(path)}
	}
}

// httpFill is the HTTP side of an ingest comparison: a fill of a fresh
// store through the server that start starts on its data directory; ended,
// when set, sees the server before it stops.
func httpFill(b *testing.B, n int, bodies [][]byte, start func(b *testing.B, data string) *server, ended func(*server)) func(round int) ingestRun {
	return func(round int) ingestRun {
		dir := filepath.Join(workDir, fmt.Sprintf("ingest-%d", round))
		defer os.RemoveAll(dir)
		data := filepath.Join(dir, "store")
		s := start(b, data)
		fill := newFillProgress(n)
		if _, err := s.ingest(bodiesOf(bodies), batchSize, ingestClients, fill.mark); err != nil {
			b.Fatalf("HTTP ingest: %v", err)
		}
		if ended != nil {
			ended(s)
		}
		s.stop()
		if got, err := countActivities(data); err != nil || got != int64(n)+ownActivities {
			b.Fatalf("the store holds %d activities (%v), want %d and the store's own %d", got, err, n, ownActivities)
		}
		return ingestRun{fill: fill, bytes: storeBytes(data)}
	}
}

// ingestInput makes the activities of an ingest comparison: their number
// (from the environment variable rowsEnv, else fallback; at least ten
// request bodies, one per tenth of the fill) and the rounds, their mean
// JSON size, the request bodies and the rows as the store writes them.
func ingestInput(b *testing.B, rowsEnv string, fallback int) (n, rounds int, size float64, bodies [][]byte, rows []rawRow) {
	n = envIntMin(b, rowsEnv, fallback, fillParts*batchSize)
	rounds = envInt(b, "AUDITLOG_BENCH_INGEST_ROUNDS", 1)
	acts := activities(1, n)
	return n, rounds, meanJSONSize(acts), batchBodies(acts, batchSize), rawRows(acts)
}

// ingestSides are the two ways a benchmark inserts the same rows: straight
// into the database, and through the HTTP API.
type ingestSides struct {
	raw, viaHTTP    string // what the report calls them
	runRaw, runHTTP func(round int) ingestRun
}

// ingestRun is one side's fill in one round: how it went, tenth by tenth,
// and the bytes on disk it left.
type ingestRun struct {
	fill  *fillProgress
	bytes int64
}

// ingestTargets are what an ingest comparison is judged against: the HTTP
// rate over the raw rate, over the whole fill, and the HTTP rate of the
// last tenth of the fill over that of the first (0: reported, not judged).
type ingestTargets struct {
	ratio, lastTenth float64
}

// compareIngest runs rounds of both sides of n rows each and writes a
// table row per round, then each round's rates per tenth of the fill. The
// whole-fill ratio is the best rate of each side's rounds; the last tenth
// over the first is the best HTTP round's.
func compareIngest(b *testing.B, rep *report, n, rounds int, targets ingestTargets, sides ingestSides) {
	type round struct{ raw, http ingestRun }
	runs := make([]round, rounds)
	for i := range runs {
		runs[i] = round{raw: sides.runRaw(i + 1), http: sides.runHTTP(i + 1)}
		for _, f := range []*fillProgress{runs[i].raw.fill, runs[i].http.fill} {
			if !f.complete() {
				b.Fatalf("round %d: the fill reached %d of %d tenths", i+1, f.reached, fillParts)
			}
		}
	}
	rep.printf("| round | %[1]s rows/s | %[2]s rows/s | %[2]s / raw | %[1]s last tenth ÷ first | %[2]s last tenth ÷ first | %[1]s bytes on disk per activity | %[2]s bytes on disk per activity |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
		sides.raw, sides.viaHTTP)
	bestRaw, bestHTTP := 0, 0
	for i, r := range runs {
		rawRate, httpRate := r.raw.fill.rate(), r.http.fill.rate()
		rep.printf("| %d | %.0f (%.2f s) | %.0f (%.2f s) | %.2f | %.2f | %.2f | %.0f | %.0f |\n", i+1,
			rawRate, r.raw.fill.elapsed().Seconds(), httpRate, r.http.fill.elapsed().Seconds(), httpRate/rawRate,
			r.raw.fill.lastOverFirst(), r.http.fill.lastOverFirst(), float64(r.raw.bytes)/float64(n), float64(r.http.bytes)/float64(n))
		if rawRate > runs[bestRaw].raw.fill.rate() {
			bestRaw = i
		}
		if httpRate > runs[bestHTTP].http.fill.rate() {
			bestHTTP = i
		}
	}
	for i, r := range runs {
		rep.printf("\nRound %d, rows per second over each tenth of the fill (from the moment a tenth was reached to the next; rows acknowledged through HTTP, committed raw):\n\n", i+1)
		writeTenths(rep, fillColumn{sides.raw, r.raw.fill}, fillColumn{sides.viaHTTP, r.http.fill})
	}
	raw, viaHTTP := runs[bestRaw].raw, runs[bestHTTP].http
	ratio, tenths := viaHTTP.fill.rate()/raw.fill.rate(), viaHTTP.fill.lastOverFirst()
	tenthVerdict := fmt.Sprintf("%s last tenth ÷ first %.2f", sides.viaHTTP, tenths)
	if targets.lastTenth > 0 {
		tenthVerdict += fmt.Sprintf(" (target ≥ %.2f): %s", targets.lastTenth, passFail(tenths >= targets.lastTenth))
	}
	tenthVerdict += fmt.Sprintf("; %s's %.2f", sides.raw, raw.fill.lastOverFirst())
	rep.verdict("best %s %.0f rows/s / best %s %.0f rows/s = %.2f over the whole fill (target ≥ %.2f): %s; %s",
		sides.viaHTTP, viaHTTP.fill.rate(), sides.raw, raw.fill.rate(), ratio, targets.ratio, passFail(ratio >= targets.ratio), tenthVerdict)
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(raw.fill.rate(), "raw_rows/s")
	b.ReportMetric(viaHTTP.fill.rate(), "http_rows/s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(raw.fill.lastOverFirst(), "raw_last/first_tenth")
	b.ReportMetric(tenths, "http_last/first_tenth")
	b.ReportMetric(float64(raw.bytes)/float64(n), "raw_bytes/activity")
	b.ReportMetric(float64(viaHTTP.bytes)/float64(n), "http_bytes/activity")
}

// BenchmarkListFirstPage (target 2): the first page (50 activities) for
// every filter of the seed, alone and combined, through the HTTP API, on a
// store of 1,000,000 activities spread over 30 days. Filter values are
// drawn afresh for every request from the stored data.
func BenchmarkListFirstPage(b *testing.B) {
	perFilter := envInt(b, "AUDITLOG_BENCH_LIST_REQUESTS", listRequests)
	dir, fill := queryDataset(b)
	smp, err := sampleDataset(dir)
	if err != nil {
		b.Fatal(err)
	}
	rep := newReport(b, fmt.Sprintf("Target 2: first page of every filter, %d activities", smp.count))
	onDisk := storeBytes(dir)
	s := startServer(b, dir)
	results := measureList(b, s, smp, perFilter, listFilters())
	s.stop()
	rep.printf("Dataset: %d activities from `auditlog demo --count %d` (%s; the demo ANALYZEs at the end and the server was started afterwards), spread over %s to %s, %.0f bytes on disk per activity (database, search index and their WALs before the server started); %d timed requests per filter, one sequential client, `limit=50`.\n\n",
		smp.count, smp.count, fill, smp.firstDay.Format(time.DateOnly), smp.lastDay.Format(time.DateOnly), float64(onDisk)/float64(smp.count), perFilter)
	worst, failed := writeListResults(rep, results, targetListP95)
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(worst), "worst_p95_ms")
	b.ReportMetric(float64(failed), "filters_over_target")
	b.ReportMetric(float64(onDisk)/float64(smp.count), "bytes/activity")
}

type listResult struct {
	filter    string
	durations []time.Duration
	rows      int
	empty     int
	example   string
}

// measureList times perFilter first-page requests for each of filters, from
// one sequential client. One untimed round first warms the server's
// connection pools and caches; the timed rounds then interleave the
// filters, so that a burst of load from elsewhere on the machine spreads
// over all of them.
func measureList(b *testing.B, s *server, smp *sample, perFilter int, filters []listFilter) []listResult {
	rng := rand.New(rand.NewPCG(2, 2))
	results := make([]listResult, len(filters))
	for round := -1; round < perFilter; round++ {
		for i, f := range filters {
			q := f.query(rng, smp)
			q.Set("limit", "50")
			path := "/api/v1/activities?" + q.Encode()
			start := time.Now()
			body, err := s.do("GET", path, nil, http.StatusOK)
			d := time.Since(start)
			if err != nil {
				b.Fatalf("%s: %v", f.name, err)
			}
			if round < 0 {
				continue
			}
			var page struct {
				Activities []json.RawMessage `json:"activities"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				b.Fatalf("%s: %v", f.name, err)
			}
			r := &results[i]
			r.filter = f.name
			r.durations = append(r.durations, d)
			r.rows += len(page.Activities)
			if len(page.Activities) == 0 {
				r.empty++
			}
			if r.example == "" {
				r.example, _ = url.QueryUnescape(q.Encode())
			}
		}
	}
	for i := range results {
		slices.Sort(results[i].durations)
	}
	return results
}

// writeListResults writes the per-filter table and the verdict against a
// p95 target, and returns the worst p95 and how many filters missed it.
func writeListResults(rep *report, results []listResult, target time.Duration) (worst time.Duration, failed int) {
	rep.printf("| filter | example query | p50 ms | p95 ms | max ms | mean rows | empty pages | p95 ≤ %s ms |\n|---|---|---:|---:|---:|---:|---:|---|\n", msTarget(target))
	for _, r := range results {
		p95 := percentile(r.durations, 0.95)
		worst = max(worst, p95)
		if p95 > target {
			failed++
		}
		rep.printf("| %s | `%s` | %.1f | %.1f | %.1f | %.1f | %d | %s |\n", r.filter, r.example,
			ms(percentile(r.durations, 0.50)), ms(p95), ms(r.durations[len(r.durations)-1]),
			float64(r.rows)/float64(len(r.durations)), r.empty, passFail(p95 <= target))
	}
	rep.verdict("worst p95 %.1f ms, %d of %d filters over (target ≤ %s ms for every filter): %s",
		ms(worst), failed, len(results), msTarget(target), passFail(failed == 0))
	return worst, failed
}

// BenchmarkRecordOne (target 3): one activity per request from one
// sequential client, each acknowledged only once durable, on the store of
// 1,000,000 activities.
func BenchmarkRecordOne(b *testing.B) {
	n := envInt(b, "AUDITLOG_BENCH_SINGLE_REQUESTS", singleRequests)
	dir, _ := queryDataset(b)
	rep := newReport(b, "Target 3: one activity per request, sequential client")
	const warm = 50
	acts := activities(3, warm+n)
	size := meanJSONSize(acts)
	bodies := make([][]byte, len(acts))
	for i, a := range acts {
		bodies[i], _ = json.Marshal(a)
	}
	stored, err := countActivities(dir)
	if err != nil {
		b.Fatal(err)
	}
	s := startServer(b, dir)
	durations := make([]time.Duration, 0, n)
	start := time.Now()
	for i, body := range bodies {
		if i == warm {
			start = time.Now()
		}
		t := time.Now()
		if _, err := s.do("POST", "/api/v1/activities", body, http.StatusCreated); err != nil {
			b.Fatal(err)
		}
		if i >= warm {
			durations = append(durations, time.Since(t))
		}
	}
	total := time.Since(start)
	s.stop()
	slices.Sort(durations)
	p99 := percentile(durations, 0.99)
	rep.printf("%d timed requests (after %d untimed) of one activity each (mean %.0f bytes), one client, on the store of %d activities; %.0f requests/s.\n\n",
		n, warm, size, stored, float64(n)/total.Seconds())
	rep.printf("| p50 ms | p95 ms | p99 ms | max ms | p99 ≤ %s ms |\n|---:|---:|---:|---:|---|\n", msTarget(targetSingleP99))
	rep.printf("| %.2f | %.2f | %.2f | %.2f | %s |\n", ms(percentile(durations, 0.5)), ms(percentile(durations, 0.95)),
		ms(p99), ms(durations[len(durations)-1]), passFail(p99 <= targetSingleP99))
	rep.verdict("p99 %.2f ms (target ≤ %s ms): %s", ms(p99), msTarget(targetSingleP99), passFail(p99 <= targetSingleP99))
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(percentile(durations, 0.5)), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
}

// BenchmarkIngestMemory (target 4): the server's resident memory while
// 1,000,000 activities are ingested through HTTP (batches of 1,000, 4
// clients), read from /proc/PID/status.
func BenchmarkIngestMemory(b *testing.B) {
	n := envInt(b, "AUDITLOG_BENCH_MEMORY_ROWS", memoryRows)
	rep := newReport(b, fmt.Sprintf("Target 4: server memory while ingesting %d activities", n))
	// Encode all bodies up front.
	var bodies [][]byte
	size, _ := encodeBodies(newActivityGen(4), n, func(body []byte) error {
		bodies = append(bodies, body)
		return nil
	})

	dir := filepath.Join(workDir, "memory")
	s := startServer(b, dir)
	pid := s.pid()
	startRSS, err := procStatus(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	// Starting up has a peak of its own (the admin password's argon2id
	// hash takes 19 MiB); reset the high-water mark so that VmHWM covers
	// the ingest alone.
	startHWM, _ := procStatus(pid, "VmHWM")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset VmHWM: %v", err)
	}
	marks := []int{n / 4, n / 2, 3 * n / 4, n}
	type point struct {
		acked int
		rss   int64
	}
	var points []point
	// A sampler every 100 ms catches what the marks would miss.
	stop := make(chan struct{})
	var maxSampled int64
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if rss, err := procStatus(pid, "VmRSS"); err == nil {
					maxSampled = max(maxSampled, rss)
				}
			}
		}
	}()
	dur, err := s.ingest(bodiesOf(bodies), batchSize, ingestClients, func(acked int) {
		if len(points) < len(marks) && acked >= marks[len(points)] {
			rss, _ := procStatus(pid, "VmRSS")
			points = append(points, point{acked, rss})
		}
	})
	close(stop)
	samplerDone.Wait()
	if err != nil {
		b.Fatal(err)
	}
	hwm, err := procStatus(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	// The same list requests on this store, before any restart: the
	// server opened it empty, so the query planner has no statistics on
	// the activities (PRAGMA optimize runs when the store is opened and
	// closed).
	var listResults []listResult
	var smp *sample
	if perFilter := envIntMin(b, "AUDITLOG_BENCH_LIVE_LIST_REQUESTS", 100, 0); perFilter > 0 {
		if smp, err = sampleDataset(dir); err != nil {
			b.Fatal(err)
		}
		listResults = measureList(b, s, smp, perFilter, listFilters())
	}
	stats := statCount(dir)
	s.stop()
	if got, err := countActivities(dir); err != nil || got != int64(n)+ownActivities {
		b.Fatalf("the store holds %d activities (%v), want %d and the store's own %d", got, err, n, ownActivities)
	}
	onDisk := storeBytes(dir)

	rep.printf("%d activities (mean %.0f bytes) in batches of %d from %d clients in %.1f s (%.0f activities/s); database, search index and their WALs %.0f MiB once the server had stopped, %.0f bytes on disk per activity.\n\n",
		n, size, batchSize, ingestClients, dur.Seconds(), float64(n)/dur.Seconds(), float64(onDisk)/(1<<20), float64(onDisk)/float64(n))
	rep.printf("| activities acknowledged | server RSS (VmRSS) MiB |\n|---:|---:|\n| 0 (ready) | %.1f |\n", mib(startRSS))
	for _, p := range points {
		rep.printf("| %d | %.1f |\n", p.acked, mib(p.rss))
	}
	rep.printf("\nHighest VmRSS seen by a 100 ms sampler %.1f MiB; peak while starting up, before the reset, %.1f MiB.\n", mib(maxSampled), mib(startHWM))
	rep.verdict("peak RSS during the ingest (VmHWM, reset once the server was ready) %.1f MiB; RSS %.1f MiB when ready, %.1f MiB after the last activity",
		mib(hwm), mib(startRSS), mib(points[len(points)-1].rss))
	rep.flush()
	if listResults != nil {
		rep := newReport(b, fmt.Sprintf("Target 2, second case: the store just filled through HTTP, server not restarted (%d activities)", smp.count))
		rep.printf("The server of target 4 was started on an empty store and has not been restarted, so SQLite has no planner statistics on the activities table (`sqlite_stat1` rows for it: %d). All activities were recorded within a few minutes, so date filters select (almost) everything. %d timed requests per filter, one sequential client, `limit=50`.\n\n",
			stats, len(listResults[0].durations))
		worst, _ := writeListResults(rep, listResults, targetListP95)
		rep.flush()
		b.ReportMetric(ms(worst), "live_list_worst_p95_ms")
	}
	if os.Getenv("AUDITLOG_BENCH_KEEP") == "" {
		os.RemoveAll(dir)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(mib(hwm), "peak_rss_MiB")
	for i, p := range points {
		b.ReportMetric(mib(p.rss), fmt.Sprintf("rss_MiB_at_%dk", marks[i]/1000))
	}
	b.ReportMetric(float64(n)/dur.Seconds(), "http_rows/s")
	b.ReportMetric(float64(onDisk)/float64(n), "bytes/activity")
}

// statCount counts the planner statistics rows on the activities table.
func statCount(dir string) int {
	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "auditlog.db"), true))
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'activities'`).Scan(&n); err != nil {
		return 0 // no sqlite_stat1 table at all
	}
	return n
}

// sqliteBytes is what a SQLite database takes on disk: its file and its WAL.
func sqliteBytes(path string) int64 { return fileSize(path) + fileSize(path+"-wal") }

// storeBytes is what the embedded store in data holds on disk: its
// database and its search index.
func storeBytes(data string) int64 {
	return sqliteBytes(filepath.Join(data, "auditlog.db")) + sqliteBytes(filepath.Join(data, "search.db"))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// --- the 1,000,000-activity dataset --------------------------------------

var dataset struct {
	sync.Mutex
	dir  string
	fill string
}

func datasetRowsWanted(b *testing.B) int {
	return envInt(b, "AUDITLOG_BENCH_DATASET_ROWS", datasetRows)
}

// queryDataset returns a data directory holding the dataset for the list
// and single-record benchmarks, filled once per run by `auditlog demo`
// (30 days of activities, ANALYZEd at the end), and how the fill went.
// AUDITLOG_BENCH_DATASET=DIR keeps it in DIR across runs.
func queryDataset(b *testing.B) (string, string) {
	dataset.Lock()
	defer dataset.Unlock()
	if dataset.dir != "" {
		return dataset.dir, dataset.fill
	}
	want := datasetRowsWanted(b)
	dir := os.Getenv("AUDITLOG_BENCH_DATASET")
	if dir == "" {
		dir = filepath.Join(workDir, "dataset")
	}
	if have, err := countActivities(dir); err == nil && have >= int64(want) {
		dataset.dir, dataset.fill = dir, "reused from an earlier run"
		return dataset.dir, dataset.fill
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	run(b, "demo", "--count", fmt.Sprint(want), "--seed", "42", "--data", dir)
	dataset.dir = dir
	dataset.fill = fmt.Sprintf("filled in %.0f s", time.Since(start).Seconds())
	return dataset.dir, dataset.fill
}

// sample holds values drawn from the stored data, from which the list
// benchmark picks its filter values.
type sample struct {
	count             int64
	maxID             int64
	minUS, maxUS      int64
	firstDay, lastDay time.Time
	rows, humans      []sampleRow
	activities        []string
	usernames         []string
}

type sampleRow struct {
	id                           int64
	createdUS                    int64
	operator, username, activity string
	objectType, objectID         string
}

func sampleDataset(dir string) (*sample, error) {
	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "auditlog.db"), true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return sampleDB(db)
}

// sampleDB draws the sample from a store's database, SQLite or PostgreSQL
// (the queries are the same on both).
func sampleDB(db *sql.DB) (*sample, error) {
	s := &sample{}
	if err := db.QueryRow(`SELECT count(*), max(id), min(created_us), max(created_us) FROM activities`).Scan(&s.count, &s.maxID, &s.minUS, &s.maxUS); err != nil {
		return nil, err
	}
	s.firstDay = time.UnixMicro(s.minUS).UTC().Truncate(24 * time.Hour)
	s.lastDay = time.UnixMicro(s.maxUS).UTC().Truncate(24 * time.Hour)
	rng := rand.New(rand.NewPCG(5, 5))
	for len(s.rows) < 5000 {
		var r sampleRow
		err := db.QueryRow(`SELECT id, created_us, operator, username, activity_system_name, object_type, object_id FROM activities WHERE id = $1`,
			1+rng.Int64N(s.maxID)).Scan(&r.id, &r.createdUS, &r.operator, &r.username, &r.activity, &r.objectType, &r.objectID)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.rows = append(s.rows, r)
		if r.operator == string(auditlog.OperatorHuman) {
			s.humans = append(s.humans, r)
		}
	}
	for _, q := range []struct {
		sql string
		dst *[]string
	}{
		{`SELECT DISTINCT activity_system_name FROM activities`, &s.activities},
		{`SELECT DISTINCT username FROM activities WHERE username <> ''`, &s.usernames},
	} {
		rows, err := db.Query(q.sql)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			*q.dst = append(*q.dst, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func pick[T any](rng *rand.Rand, from []T) T { return from[rng.IntN(len(from))] }

// distinct picks k different values.
func distinct(rng *rand.Rand, from []string, k int) []string {
	var out []string
	for len(out) < k {
		if v := pick(rng, from); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// day picks a day that holds data.
func (s *sample) day(rng *rand.Rand) time.Time {
	days := int(s.lastDay.Sub(s.firstDay)/(24*time.Hour)) + 1
	return s.firstDay.AddDate(0, 0, rng.IntN(days))
}

// dateRange picks a range of 1 to 7 whole days within the data.
func (s *sample) dateRange(rng *rand.Rand) (from, to string) {
	start := s.day(rng)
	end := start.AddDate(0, 0, rng.IntN(7))
	if end.After(s.lastDay) {
		end = s.lastDay
	}
	return start.Format(time.DateOnly), end.Format(time.DateOnly)
}

type listFilter struct {
	name  string
	query func(rng *rand.Rand, s *sample) url.Values
}

// listFilters are the seed's filters, alone and combined. Single values are
// drawn uniformly from the distinct stored values (rare and frequent alike)
// or from a random stored activity, as noted.
func listFilters() []listFilter {
	v := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return q
	}
	withRange := func(q url.Values, rng *rand.Rand, s *sample) url.Values {
		from, to := s.dateRange(rng)
		q.Set("created_from", from)
		q.Set("created_to", to)
		return q
	}
	return []listFilter{
		{"none (newest first)", func(rng *rand.Rand, s *sample) url.Values { return url.Values{} }},
		{"activity (any stored name)", func(rng *rand.Rand, s *sample) url.Values {
			return v("activity", pick(rng, s.activities))
		}},
		{"activity ×3", func(rng *rand.Rand, s *sample) url.Values {
			return url.Values{"activity": distinct(rng, s.activities, 3)}
		}},
		{"operator=human", func(rng *rand.Rand, s *sample) url.Values { return v("operator", "human") }},
		{"operator=machine", func(rng *rand.Rand, s *sample) url.Values { return v("operator", "machine") }},
		{"username", func(rng *rand.Rand, s *sample) url.Values { return v("username", pick(rng, s.usernames)) }},
		{"username ×3", func(rng *rand.Rand, s *sample) url.Values {
			return url.Values{"username": distinct(rng, s.usernames, 3)}
		}},
		{"id", func(rng *rand.Rand, s *sample) url.Values {
			return v("id", fmt.Sprint(1+rng.Int64N(s.maxID)))
		}},
		{"created_on", func(rng *rand.Rand, s *sample) url.Values {
			return v("created_on", s.day(rng).Format(time.DateOnly))
		}},
		{"created_from/to (1–7 days)", func(rng *rand.Rand, s *sample) url.Values {
			return withRange(url.Values{}, rng, s)
		}},
		{"created_from/to (1 hour, RFC 3339)", func(rng *rand.Rand, s *sample) url.Values {
			t := time.UnixMicro(s.minUS + rng.Int64N(s.maxUS-s.minUS)).UTC().Truncate(time.Second)
			return v("created_from", t.Format(time.RFC3339), "created_to", t.Add(time.Hour).Format(time.RFC3339))
		}},
		{"object_type (of a stored activity)", func(rng *rand.Rand, s *sample) url.Values {
			return v("object_type", pick(rng, s.rows).objectType)
		}},
		{"object_id (of a stored activity)", func(rng *rand.Rand, s *sample) url.Values {
			return v("object_id", pick(rng, s.rows).objectID)
		}},
		{"object_type+object_id", func(rng *rand.Rand, s *sample) url.Values {
			r := pick(rng, s.rows)
			return v("object_type", r.objectType, "object_id", r.objectID)
		}},
		{"activity+operator+username (of a stored activity)", func(rng *rand.Rand, s *sample) url.Values {
			r := pick(rng, s.humans)
			return v("activity", r.activity, "operator", r.operator, "username", r.username)
		}},
		{"activity+username (drawn apart; often no match)", func(rng *rand.Rand, s *sample) url.Values {
			return v("activity", pick(rng, s.rows).activity, "username", pick(rng, s.usernames))
		}},
		{"activity+created_on", func(rng *rand.Rand, s *sample) url.Values {
			return v("activity", pick(rng, s.rows).activity, "created_on", s.day(rng).Format(time.DateOnly))
		}},
		{"activity+created_from/to", func(rng *rand.Rand, s *sample) url.Values {
			return withRange(v("activity", pick(rng, s.activities)), rng, s)
		}},
		{"username+created_from/to", func(rng *rand.Rand, s *sample) url.Values {
			return withRange(v("username", pick(rng, s.usernames)), rng, s)
		}},
		{"operator+created_on", func(rng *rand.Rand, s *sample) url.Values {
			return v("operator", pick(rng, []string{"human", "machine"}), "created_on", s.day(rng).Format(time.DateOnly))
		}},
		{"activity ×3+operator", func(rng *rand.Rand, s *sample) url.Values {
			q := url.Values{"activity": distinct(rng, s.activities, 3)}
			q.Set("operator", pick(rng, []string{"human", "machine"}))
			return q
		}},
		{"activity ×3+username+created_from/to", func(rng *rand.Rand, s *sample) url.Values {
			q := url.Values{"activity": distinct(rng, s.activities, 3)}
			q.Set("username", pick(rng, s.usernames))
			return withRange(q, rng, s)
		}},
		{"object_type+created_from/to", func(rng *rand.Rand, s *sample) url.Values {
			return withRange(v("object_type", pick(rng, s.rows).objectType), rng, s)
		}},
	}
}

// newest is the id of the newest activity the server holds.
func (s *server) newest(b *testing.B) int64 {
	body, err := s.do("GET", "/api/v1/activities?limit=1", nil, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	var page struct {
		Activities []struct {
			ID int64 `json:"id"`
		} `json:"activities"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Activities) == 0 {
		b.Fatalf("the newest activity: %s %v", body, err)
	}
	return page.Activities[0].ID
}
