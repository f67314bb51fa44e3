package bench

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

const (
	targetTileP99    = 2 * time.Millisecond // a full hash tile through HTTP, at 1,000,000 activities
	targetBundleRate = 150000               // entries/s of entry bundles through HTTP
	tileRequests     = 3000                 // timed full-tile requests
	bundleEntries    = 256000               // entries read as bundles (1,000 full bundles)
	bundleClients    = 4                    // concurrent bundle readers at most, as many as the ingest benchmark's writers
	// firstCheckpointDeadline bounds the wait for the first checkpoint of
	// a store filled by auditlog demo, which signs none.
	firstCheckpointDeadline = 2 * time.Minute
)

// BenchmarkTiles measures the log served as C2SP tlog-tiles on the store
// of 1,000,000 activities: full hash tiles read one at a time by one
// client (p99), and entry bundles read by 1, 2 and 4 clients (entries/s,
// the target for 4, the ingest benchmark's number of clients), each
// beside the raw engine doing the same reads from the same database file.
func BenchmarkTiles(b *testing.B) {
	dir, _ := queryDataset(b)
	stored, err := countActivities(dir)
	if err != nil {
		b.Fatal(err)
	}
	s := startServerScopes(b, dir, "activities:read")
	size := waitForCheckpoint(b, s, uint64(stored))
	rep := newReport(b, fmt.Sprintf("Tiles: the log as C2SP tlog-tiles, %d activities", size))

	// Full tiles of level 0 (nine in ten, as a monitor reads them) and of
	// level 1, at random.
	rng := rand.New(rand.NewPCG(8, 8))
	pick := func() sumdb.Tile {
		if rng.IntN(10) == 0 {
			return sumdb.Tile{H: tlog.TileHeight, L: 1, N: rng.Int64N(int64(size >> 16)), W: tlog.TileWidth}
		}
		return sumdb.Tile{H: tlog.TileHeight, L: 0, N: rng.Int64N(int64(size >> 8)), W: tlog.TileWidth}
	}
	n := envInt(b, "AUDITLOG_BENCH_TILE_REQUESTS", tileRequests)
	var served []time.Duration
	for i := -200; i < n; i++ {
		path := "/tlog/" + torchwood.TilePath(pick())
		start := time.Now()
		body, err := s.do("GET", path, nil, http.StatusOK)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(body) != tlog.TileWidth*tlog.HashSize {
			b.Fatalf("%s: %d bytes", path, len(body))
		}
		if i >= 0 {
			served = append(served, d)
		}
	}
	slices.Sort(served)

	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "auditlog.db"), true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var raw []time.Duration
	for i := -200; i < n; i++ {
		t := pick()
		start := time.Now()
		var hashes []byte
		if err := db.QueryRow(`SELECT hashes FROM tiles WHERE level = ? AND idx = ?`, t.L, t.N).Scan(&hashes); err != nil {
			b.Fatal(err)
		}
		if i >= 0 {
			raw = append(raw, time.Since(start))
		}
	}
	slices.Sort(raw)
	p99 := percentile(served, 0.99)
	rep.printf("%d timed requests (after 200 untimed) for random full hash tiles (level 0, and level 1 one time in ten), one sequential client with a token; the raw engine reads the same tiles' rows from the database file.\n\n", n)
	rep.printf("| | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{{"`GET /tlog/tile/L/N`", served}, {"raw SQLite row", raw}} {
		rep.printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", r.name, ms(percentile(r.d, 0.5)), ms(percentile(r.d, 0.95)), ms(percentile(r.d, 0.99)), ms(r.d[len(r.d)-1]))
	}
	rep.verdict("full tile p99 %.2f ms (target ≤ %s ms): %s", ms(p99), msTarget(targetTileP99), passFail(p99 <= targetTileP99))

	// Entry bundles: the first bundleEntries entries, the bundles dealt
	// to the clients in turn.
	entries := min(int64(envInt(b, "AUDITLOG_BENCH_BUNDLE_ENTRIES", bundleEntries)), int64(size)) / tlog.TileWidth * tlog.TileWidth
	bundles := entries / tlog.TileWidth
	readHTTP := func(i int64) (int, error) {
		body, err := s.do("GET", "/tlog/"+torchwood.TilePath(sumdb.Tile{H: tlog.TileHeight, L: -1, N: i, W: tlog.TileWidth}), nil, http.StatusOK)
		if err != nil {
			return 0, err
		}
		return countEntries(body)
	}
	readRaw := func(i int64) (int, error) { return rawBundle(db, i) }
	rep.printf("\n%d entries (%d full bundles) read by concurrent clients, each bundle checked to hold 256 entries; the raw engine reads the same rows from the database file and makes the same bundles (each row decoded, its leaf encoded by `tlog.LeafData`, length-prefixed), with as many goroutines.\n\n", entries, bundles)
	rep.printf("| clients | `GET /tlog/tile/entries/N`, entries/s | raw SQLite rows to bundles, entries/s | ratio |\n|---:|---:|---:|---:|\n")
	var httpRate, rawRate float64
	for _, clients := range []int{1, 2, bundleClients} {
		httpRate = readBundles(b, bundles, clients, readHTTP)
		rawRate = readBundles(b, bundles, clients, readRaw)
		rep.printf("| %d | %.0f | %.0f | %.2f |\n", clients, httpRate, rawRate, httpRate/rawRate)
	}
	rep.verdict("entry bundles with %d clients %.0f entries/s (target ≥ %d), %.2f of the raw engine: %s", bundleClients, httpRate, targetBundleRate, httpRate/rawRate, passFail(httpRate >= targetBundleRate))
	rep.flush()
	s.stop()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p99), "tile_p99_ms")
	b.ReportMetric(httpRate, "bundle_entries/s")
}

// waitForCheckpoint waits until the server has signed a checkpoint of at
// least size activities, and returns its size.
func waitForCheckpoint(b *testing.B, s *server, size uint64) uint64 {
	deadline := time.Now().Add(firstCheckpointDeadline)
	for {
		cp, err := s.checkpoint()
		if err == nil && cp.size >= size {
			return cp.size
		}
		if time.Now().After(deadline) {
			b.Fatalf("no checkpoint of %d activities after %s: %+v, %v", size, firstCheckpointDeadline, cp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readBundles reads bundles 0 to n-1 with that many concurrent readers
// and returns the entries read per second.
func readBundles(b *testing.B, n int64, clients int, read func(i int64) (int, error)) float64 {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(c); i < n; i += int64(clients) {
				got, err := read(i)
				if err == nil && got != tlog.TileWidth {
					err = fmt.Errorf("bundle %d holds %d entries", i, got)
				}
				if err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		b.Fatal(failure)
	}
	return float64(n*tlog.TileWidth) / time.Since(start).Seconds()
}

func countEntries(bundle []byte) (int, error) {
	n := 0
	for len(bundle) > 0 {
		_, rest, err := torchwood.ReadTileEntry(bundle)
		if err != nil {
			return n, err
		}
		bundle = rest
		n++
	}
	return n, nil
}

// rawBundle makes bundle i from the activities' rows, as the server does.
func rawBundle(db *sql.DB, i int64) (int, error) {
	rows, err := db.Query(`SELECT id, created_us, operator, username, activity_system_name, activity_display_name,
		subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes, recorded_by
		FROM activities WHERE id > ? AND id <= ? ORDER BY id`, i*tlog.TileWidth, (i+1)*tlog.TileWidth)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	bundle := make([]byte, 0, tlog.TileWidth*700)
	var a auditlog.Activity
	var created int64
	var operator, changes, recordedBy string
	var extra []byte
	for rows.Next() {
		if err := rows.Scan(&a.ID, &created, &operator, &a.Username, &a.SystemName, &a.DisplayName, &a.SubtypeSystemName,
			&a.SubtypeDisplayName, &extra, &a.ObjectID, &a.ObjectType, &a.ObjectName, &changes, &recordedBy); err != nil {
			return 0, err
		}
		a.Created, a.Operator, a.Extra, a.RecordedBy = time.UnixMicro(created).UTC(), auditlog.Operator(operator), extra, auditlog.Recorder(recordedBy)
		a.Changes = nil
		if err := json.Unmarshal([]byte(changes), &a.Changes); err != nil {
			return 0, err
		}
		leaf, err := tlog.LeafData(&a)
		if err != nil {
			return 0, err
		}
		if bundle, err = torchwood.AppendTileEntry(bundle, leaf); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return countEntries(bundle)
}
