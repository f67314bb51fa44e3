package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const (
	hugeRowsEnv       = "AUDITLOG_BENCH_HUGE_ROWS"
	targetHugeListP95 = 10 * time.Millisecond // first page, every filter, 10,000,000 activities (the store-core issue)
)

// BenchmarkHugeFill is a once-off for docs/performance.md, run only when
// AUDITLOG_BENCH_HUGE_ROWS is set (10000000 for the record): a fill of a
// SQLite store from empty to that many ~600-byte activities through HTTP,
// in batches of 1,000 from 4 concurrent clients, timed tenth by tenth (at
// 10,000,000, million by million); the bytes on disk per activity; then,
// once the search index holds every activity, the first page of every
// filter of target 2 on the full store, the server started again.
func BenchmarkHugeFill(b *testing.B) {
	if os.Getenv(hugeRowsEnv) == "" {
		b.Skipf("set %s=10000000 for the once-off fill to 10,000,000 (about half an hour on 2 cores, 17 GB of disk in the work directory)", hugeRowsEnv)
	}
	n := envIntMin(b, hugeRowsEnv, 0, fillParts*batchSize)
	perFilter := envInt(b, "AUDITLOG_BENCH_LIST_REQUESTS", listRequests)

	// The bodies are encoded before anything is timed, to a file rather
	// than memory: ten million of them take 6 GB.
	bodyPath := filepath.Join(workDir, "huge-bodies")
	encodeStart := time.Now()
	size, err := writeBodyFile(bodyPath, newActivityGen(10), n)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(bodyPath)
	encoded := time.Since(encodeStart)
	f, err := os.Open(bodyPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bodies := &bodyReader{r: bufio.NewReaderSize(f, 1<<20)}

	rep := newReport(b, fmt.Sprintf("SQLite: a fill from empty to %d activities through HTTP", n))
	dir := filepath.Join(workDir, "huge")
	dbPath := filepath.Join(dir, "auditlog.db")
	s := startServer(b, dir)
	fill := newFillProgress(n)
	if _, err := s.ingest(bodies.next, batchSize, ingestClients, fill.mark); err != nil {
		b.Fatalf("HTTP ingest: %v", err)
	}
	if bodies.err != nil {
		b.Fatal(bodies.err)
	}
	if !fill.complete() {
		b.Fatalf("the fill reached %d of %d tenths", fill.reached, fillParts)
	}
	dbRunning, walRunning := fileSize(dbPath), fileSize(dbPath+"-wal")
	// The first pages are timed on a complete search index, which pages
	// filtered by two columns walk: the indexer takes a share of the
	// writer's time during the fill, and catches up after it.
	catchUpStart := time.Now()
	indexedAtEnd := s.awaitIndex(b)
	catchUp := time.Since(catchUpStart)
	s.stop()
	if got, err := countActivities(dir); err != nil || got != int64(n)+ownActivities {
		b.Fatalf("the store holds %d activities (%v), want %d and the store's own %d", got, err, n, ownActivities)
	}
	dbStopped, walStopped := fileSize(dbPath), fileSize(dbPath+"-wal")
	indexStopped := sqliteBytes(filepath.Join(dir, "search.db"))
	f.Close() // the body file takes 6 GB at 10,000,000: not kept through the list requests
	os.Remove(bodyPath)

	perActivity := func(bytes int64) float64 { return float64(bytes) / float64(n) }
	rep.printf("%d activities (mean JSON %.0f bytes) in request bodies of %d, encoded beforehand to a file (in %.0f s) and read from it during the fill, posted by %d clients to one server on an empty store: %.1f s, %.0f activities/s over the whole fill.\n\n",
		n, size, batchSize, encoded.Seconds(), ingestClients, fill.elapsed().Seconds(), fill.rate())
	rep.printf("Rows per second over each tenth of the fill (from the moment a tenth was acknowledged to the next):\n\n")
	writeTenths(rep, fillColumn{"HTTP", fill})
	rep.printf("\n| on disk | database file MiB | WAL MiB | bytes per activity |\n|---|---:|---:|---:|\n")
	rep.printf("| right after the fill, server running | %.0f | %.0f | %.0f |\n", float64(dbRunning)/(1<<20), float64(walRunning)/(1<<20), perActivity(dbRunning+walRunning))
	rep.printf("| server stopped | %.0f | %.0f | %.0f |\n", float64(dbStopped)/(1<<20), float64(walStopped)/(1<<20), perActivity(dbStopped+walStopped))
	rep.printf("| the search index (search.db and its WAL), server stopped | %.0f | | %.0f |\n\n", float64(indexStopped)/(1<<20), perActivity(indexStopped))
	rep.printf("The search index held the activities up to %d when the last batch was acknowledged, and all of them %.0f s later.\n\n", indexedAtEnd, catchUp.Seconds())
	rep.verdict("%.0f activities/s over the fill to %d; last tenth ÷ first %.2f; %.0f bytes on disk per activity (server stopped), %.0f with the search index",
		fill.rate(), n, fill.lastOverFirst(), perActivity(dbStopped+walStopped), perActivity(dbStopped+walStopped+indexStopped))
	rep.flush()

	stats := statCount(dir)
	smp, err := sampleDataset(dir)
	if err != nil {
		b.Fatal(err)
	}
	s = startServer(b, dir)
	results := measureList(b, s, smp, perFilter, listFilters())
	s.stop()
	listRep := newReport(b, fmt.Sprintf("SQLite: first page of every filter, %d activities filled through HTTP", smp.count))
	listRep.printf("The store of the fill above, the server started again on it (`sqlite_stat1` rows for the activities table when it started: %d). All activities were recorded within the fill, so date filters select (almost) everything. %d timed requests per filter, one sequential client, `limit=50`.\n\n",
		stats, perFilter)
	worst, failed := writeListResults(listRep, results, targetHugeListP95)
	listRep.flush()
	if os.Getenv("AUDITLOG_BENCH_KEEP") == "" {
		os.RemoveAll(dir)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(fill.rate(), "http_rows/s")
	b.ReportMetric(fill.lastOverFirst(), "last/first_tenth")
	b.ReportMetric(perActivity(dbStopped+walStopped), "bytes/activity")
	b.ReportMetric(ms(worst), "worst_p95_ms")
	b.ReportMetric(float64(failed), "filters_over_target")
}

// writeBodyFile encodes n activities of gen as request bodies of batchSize
// to a file, one a line (JSON holds no raw line break), and returns their
// mean JSON size.
func writeBodyFile(path string, gen *activityGen, n int) (float64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	size, err := encodeBodies(gen, n, func(body []byte) error {
		if _, err := w.Write(body); err != nil {
			return err
		}
		return w.WriteByte('\n')
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return size, err
}

// bodyReader hands out the bodies of a file of writeBodyFile in order, to
// several clients at once.
type bodyReader struct {
	mu   sync.Mutex
	r    *bufio.Reader
	done bool
	err  error // what ended the reading, if not the end of the file
}

func (br *bodyReader) next() ([]byte, bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.done {
		return nil, false
	}
	line, err := br.r.ReadBytes('\n')
	if err != nil {
		br.done = true
		if err != io.EOF || len(line) > 0 {
			br.err = fmt.Errorf("body file: %v after %d bytes of a line", err, len(line))
		}
		return nil, false
	}
	return line[:len(line)-1], true
}
