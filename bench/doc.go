// Package bench holds the benchmarks behind the service's performance
// targets (docs/performance.md). They build cmd/auditlog, run the real
// binary in its own process and talk to it over HTTP, and measure the raw
// SQLite engine in the same run for comparison:
//
//	go test -tags sqlite_fts5 ./bench/ -run '^$' -bench . -benchtime 1x -timeout 60m
//
// Each benchmark prints a markdown section with its figures and logs its
// verdict; set AUDITLOG_BENCH_OUT=FILE to also append the sections to FILE.
// Sizes can be lowered for a quick try: AUDITLOG_BENCH_INGEST_ROWS
// (default 1,000,000) and AUDITLOG_BENCH_PG_INGEST_ROWS (default 400,000)
// are the fills of the ingest comparisons, at least 10,000 (each tenth of a
// fill is timed), AUDITLOG_BENCH_INGEST_ROUNDS their rounds (default 1);
// AUDITLOG_BENCH_MEMORY_ROWS, AUDITLOG_BENCH_DATASET_ROWS,
// AUDITLOG_BENCH_LIST_REQUESTS, AUDITLOG_BENCH_LIVE_LIST_REQUESTS (0 skips
// it), AUDITLOG_BENCH_SINGLE_REQUESTS, AUDITLOG_BENCH_PROOF_REQUESTS,
// AUDITLOG_BENCH_CONSISTENCY_REQUESTS and AUDITLOG_BENCH_PAGE_REQUESTS (the
// web UI's page views); AUDITLOG_BENCH_EXPORT_ROUNDS sets the rounds of
// full CSV exports against the raw engine (default 3);
// AUDITLOG_BENCH_TILE_REQUESTS and AUDITLOG_BENCH_BUNDLE_ENTRIES the tile
// and entry-bundle reads of BenchmarkTiles.
// AUDITLOG_BENCH_DATASET=DIR keeps the 1,000,000-activity query dataset in
// DIR and reuses it on the next run (the export, proof, verify and web UI
// benchmarks run on it too, and add activities to it).
//
// BenchmarkHugeFill, a once-off for docs/performance.md, runs only when
// AUDITLOG_BENCH_HUGE_ROWS is set (10000000 for the record): it fills a
// store through HTTP to that size and measures its first pages and its
// size on disk, with about 15 GB of disk in the work directory.
//
// BenchmarkEmitter fills through the Go client's Emitter (spool off and
// on) against the same fill posted directly, at AUDITLOG_BENCH_INGEST_ROWS;
// BenchmarkEmitterOutage keeps the server down for AUDITLOG_BENCH_OUTAGE
// (default 60s) under load and watches the emitter's memory.
//
// BenchmarkStreamWebhook fills as target 1 does while a webhook stream
// delivers every activity, against the same fill with no stream.
//
// BenchmarkIngestWitnessed runs a litewitness (witness/witnesstest), which
// `make bench` installs into .tools as `make test` does.
//
// The PostgreSQL benchmarks (BenchmarkPostgres...) use the server that
// AUDITLOG_TEST_DATABASE_URL names, as the tests do, and make and drop
// databases of their own on it; AUDITLOG_BENCH_PG_DATASET=URL keeps their
// 1,000,000-activity dataset in that database across runs. Without the
// variable they are skipped.
package bench
