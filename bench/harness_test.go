package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	_ "github.com/mattn/go-sqlite3" // the raw-engine baseline and sampling the dataset

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
)

// workDir holds the binary, the data directories and the server logs of
// one run. AUDITLOG_BENCH_DIR chooses where it is made (default: the
// system's temporary directory); AUDITLOG_BENCH_KEEP=1 keeps it afterwards.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp(os.Getenv("AUDITLOG_BENCH_DIR"), "auditlog-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	if os.Getenv("AUDITLOG_BENCH_KEEP") == "" {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "bench: kept", dir)
	}
	os.Exit(code)
}

// binary builds cmd/auditlog once per run: the benchmarks drive the real
// binary in its own process, as a user would run it.
var binary = sync.OnceValues(func() (string, error) {
	path := filepath.Join(workDir, "auditlog")
	out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", path, "github.com/auditlog/auditlog/cmd/auditlog").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

func mustBinary(b *testing.B) string {
	b.Helper()
	path, err := binary()
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// run runs the binary to completion and returns its standard output.
func run(b *testing.B, args ...string) string {
	b.Helper()
	cmd := exec.Command(mustBinary(b), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("auditlog %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// server is an `auditlog serve` process on a data directory.
type server struct {
	b      *testing.B
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	token  string
	client *http.Client
	done   chan error
	// args, env and logPath start the process again (launch).
	args    []string
	env     []string
	logPath string
}

// ownActivities are the activities a fresh store holds besides the
// benchmark's: the creation of the benchmark's token, then the first
// start's System Admin group and admin user.
const ownActivities = 3

// startServer creates an API token on dir, starts `auditlog serve` on a free
// port and waits until /readyz answers. The server's log (one INFO line per
// request) goes to a file next to dir, not through the benchmark process.
// The server is stopped with SIGTERM when the benchmark ends.
func startServer(b *testing.B, dir string) *server {
	b.Helper()
	return startServerScopes(b, dir, "activities:read,activities:write")
}

// startServerScopes is startServer with a token of the given scopes.
func startServerScopes(b *testing.B, dir, scopes string) *server {
	b.Helper()
	token := strings.TrimSpace(run(b, "token", "create", "--data", dir, "--name", "bench",
		"--scopes", scopes))
	return startServerWith(b, []string{"--data", dir}, dir+"-serve.log", token)
}

// startServerWith starts `auditlog serve` with the given store flags and
// extra environment, logging to logPath, for clients with token.
func startServerWith(b *testing.B, storeArgs []string, logPath, token string, env ...string) *server {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	logFile.Close()
	s := &server{b: b, base: "http://" + addr, token: token, logPath: logPath,
		args: append(append([]string{"serve"}, storeArgs...), "--addr", addr),
		env:  append(append(os.Environ(), "AUDITLOG_ADMIN_PASSWORD=bench-admin-password"), env...),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true,
		}}}
	s.launch()
	b.Cleanup(s.stop)
	return s
}

// launch starts the server process and waits until /readyz answers.
func (s *server) launch() {
	b, logPath := s.b, s.logPath
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(mustBinary(b), s.args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	logFile.Close()
	s.cmd, s.done = cmd, make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := s.client.Get(s.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-s.done:
			b.Fatalf("auditlog serve exited: %v (log: %s)", err, logPath)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("auditlog serve not ready after 2 minutes (log: %s)", logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd.ProcessState != nil || s.cmd.Process == nil {
		return
	}
	s.client.CloseIdleConnections()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.b.Errorf("auditlog serve did not exit cleanly on SIGTERM: %v", err)
		}
		s.done <- err
	case <-time.After(2 * time.Minute):
		s.cmd.Process.Kill()
		s.b.Errorf("auditlog serve ignored SIGTERM for 2 minutes; killed")
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
}

// do sends one request and reads the whole answer; it fails unless the
// status is want.
func (s *server) do(method, path string, body []byte, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, resp.StatusCode, want, out)
	}
	return out, nil
}

// bodySource hands out request bodies one at a time, to several clients at
// once; it reports false when there are no more.
type bodySource func() ([]byte, bool)

// bodiesOf hands out the bodies in order.
func bodiesOf(bodies [][]byte) bodySource {
	var next atomic.Int64
	return func() ([]byte, bool) {
		i := int(next.Add(1) - 1)
		if i >= len(bodies) {
			return nil, false
		}
		return bodies[i], true
	}
}

// ingest posts every body with the given number of concurrent clients,
// each taking the next unsent body. after, if set, is called with the
// number of activities acknowledged so far, after each acknowledgement:
// one call at a time, in the order of the acknowledgements.
func (s *server) ingest(bodies bodySource, perBody, clients int, after func(acked int)) (time.Duration, error) {
	return ingestThrough([]*server{s}, bodies, perBody, clients, after)
}

// ingestThrough is ingest spread over several servers: client i posts to
// server i mod len(servers).
func ingestThrough(servers []*server, bodies bodySource, perBody, clients int, after func(acked int)) (time.Duration, error) {
	var (
		mu       sync.Mutex // orders the acknowledgements and the calls of after
		acked    int
		firstErr error
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	start := time.Now()
	for c := range clients {
		s := servers[c%len(servers)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				body, ok := bodies()
				if !ok {
					return
				}
				if _, err := s.do("POST", "/api/v1/activities", body, http.StatusCreated); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					failed.Store(true)
					return
				}
				mu.Lock()
				acked += perBody
				if after != nil {
					after(acked)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// --- realistic activities ---------------------------------------------

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 Edg/129.0.2792.79",
}

var machineAgents = []string{
	"auditlog-sdk-go/1.3.0 (linux; amd64) go1.23.4 worker=ingest-pipeline",
	"auditlog-sdk-python/2.4.1 (CPython 3.12.7; Linux 6.1.0-26-amd64) scheduler=nightly-reindex",
	"hydra-scheduler/4.2.0 (+https://internal.example.com/hydra) job=retention-sweep",
}

var regions = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-2"}
var roles = []string{"api", "web", "worker", "scheduler"}

// activityGen makes activities from the demo generator, each with an
// event_id and with the extra fields a real application sends along (user
// agent, trace id, host, tenant), so that the average JSON form of an
// activity is about 600 bytes (the demo's own are about 390). The same seed
// gives the same activities.
type activityGen struct {
	demo *demo.Generator
	rng  *rand.Rand
}

func newActivityGen(seed uint64) *activityGen {
	return &activityGen{demo: demo.New(seed, catalog.Builtin()), rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (g *activityGen) next() auditlog.NewActivity {
	a, rng := g.demo.Next(), g.rng
	extra := map[string]any{}
	if len(a.Extra) > 0 {
		if err := json.Unmarshal(a.Extra, &extra); err != nil {
			panic(err)
		}
	}
	if a.Operator == auditlog.OperatorHuman {
		extra["user_agent"] = userAgents[rng.IntN(len(userAgents))]
	} else {
		extra["user_agent"] = machineAgents[rng.IntN(len(machineAgents))]
	}
	extra["trace_id"] = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
	extra["host"] = fmt.Sprintf("%s-%02d.%s.internal", roles[rng.IntN(len(roles))], rng.IntN(40), regions[rng.IntN(len(regions))])
	extra["tenant"] = fmt.Sprintf("tenant-%03d", rng.IntN(200))
	a.Extra, _ = json.Marshal(extra)
	a.EventID = uuid(rng)
	return a
}

// activities returns the first n activities of newActivityGen(seed).
func activities(seed uint64, n int) []auditlog.NewActivity {
	g := newActivityGen(seed)
	out := make([]auditlog.NewActivity, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

func uuid(rng *rand.Rand) string {
	hi, lo := rng.Uint64(), rng.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&(1<<48-1))
}

// meanJSONSize is the average size of one activity's JSON as sent.
func meanJSONSize(acts []auditlog.NewActivity) float64 {
	total := 0
	for _, a := range acts {
		b, err := json.Marshal(a)
		if err != nil {
			panic(err)
		}
		total += len(b)
	}
	return float64(total) / float64(len(acts))
}

// batchBodies encodes the activities as {"activities": [...]} request
// bodies of size each.
func batchBodies(acts []auditlog.NewActivity, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(acts); off += size {
		body, err := json.Marshal(struct {
			Activities []auditlog.NewActivity `json:"activities"`
		}{acts[off:min(off+size, len(acts))]})
		if err != nil {
			panic(err)
		}
		out = append(out, body)
	}
	return out
}

// encodeBodies makes n activities of gen and hands them to emit as request
// bodies of batchSize, a chunk at a time, so that the activities
// themselves need not all be held at once. It returns their mean JSON size.
func encodeBodies(gen *activityGen, n int, emit func(body []byte) error) (float64, error) {
	var sizeSum float64
	for done := 0; done < n; {
		chunk := make([]auditlog.NewActivity, min(50_000, n-done))
		for i := range chunk {
			chunk[i] = gen.next()
		}
		sizeSum += meanJSONSize(chunk) * float64(len(chunk))
		for _, body := range batchBodies(chunk, batchSize) {
			if err := emit(body); err != nil {
				return 0, err
			}
		}
		done += len(chunk)
	}
	return sizeSum / float64(n), nil
}

// --- the raw engine -----------------------------------------------------

// rawRow is one activity in the encoding the store writes: display names
// from the catalogue, extra in RFC 8785 form, changes as a JSON array.
type rawRow struct {
	operator, username, systemName, displayName, subtypeSystemName, subtypeDisplayName string
	extra, objectID, objectType, objectName, changes, recordedBy                       string
	// eventKey is the event id as the store keys it: its recorder, a space
	// and the id; "" for none.
	eventKey string
}

// rawRecorder is the recorder the raw rows carry: the service's token's,
// about as long as the ones the benchmarks' clients record with.
const rawRecorder = "token/1"

func rawRows(acts []auditlog.NewActivity) []rawRow {
	types := map[string]auditlog.ActivityType{}
	for _, t := range catalog.Builtin() {
		types[t.SystemName] = t
	}
	out := make([]rawRow, len(acts))
	for i, a := range acts {
		t := types[a.SystemName]
		sub, _ := t.Subtype(a.SubtypeSystemName)
		extra, err := jcs.Transform(a.Extra)
		if err != nil {
			panic(err)
		}
		changes := a.Changes
		if changes == nil {
			changes = []auditlog.Change{}
		}
		cj, _ := json.Marshal(changes)
		out[i] = rawRow{
			operator: string(a.Operator), username: a.Username, systemName: a.SystemName, displayName: t.DisplayName,
			subtypeSystemName: a.SubtypeSystemName, subtypeDisplayName: sub.DisplayName, extra: string(extra),
			objectID: a.ObjectID, objectType: a.ObjectType, objectName: a.ObjectName, changes: string(cj), recordedBy: rawRecorder,
		}
		if a.EventID != "" {
			out[i].eventKey = rawRecorder + " " + a.EventID
		}
	}
	return out
}

// rawDSN has the connection settings of sqlite/db.go: WAL,
// synchronous=FULL, foreign keys, busy timeout, immediate transactions.
func rawDSN(path string, readOnly bool) string {
	p := url.Values{}
	p.Set("_journal_mode", "WAL")
	p.Set("_synchronous", "FULL")
	p.Set("_busy_timeout", "10000")
	p.Set("_foreign_keys", "on")
	if readOnly {
		p.Set("mode", "ro")
	} else {
		p.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + p.Encode()
}

// rawInsertSQL inserts one row into the store's activities table; the
// row's event id goes into event_ids (rawEventSQL), the table that keys
// event ids to activities.
const rawInsertSQL = `INSERT INTO activities (
  created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type,
  object_name, object_column_changes, recorded_by
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const rawEventSQL = `INSERT INTO event_ids (event_id, id) VALUES (?, ?)`

// rawInsert creates a database with the store's migrations (the same
// tables and indexes) and inserts rows in transactions of txRows through
// prepared single-row INSERTs: each activity, and its event id. fill is marked after each commit; its clock
// starts with the first transaction, so that only the inserts are timed.
func rawInsert(path string, rows []rawRow, txRows int, fill *fillProgress) error {
	db, err := sql.Open("sqlite3", rawDSN(path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	files, err := filepath.Glob("../sqlite/migration/*.sql")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no migrations found under ../sqlite/migration: %v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := db.Exec(string(body)); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	stmt, err := db.Prepare(rawInsertSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	eventStmt, err := db.Prepare(rawEventSQL)
	if err != nil {
		return err
	}
	defer eventStmt.Close()
	fill.begin()
	for off := 0; off < len(rows); off += txRows {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		ins, insEvent := tx.Stmt(stmt), tx.Stmt(eventStmt)
		created := time.Now().UnixMicro()
		for _, r := range rows[off:min(off+txRows, len(rows))] {
			res, err := ins.Exec(created, r.operator, r.username, r.systemName, r.displayName,
				r.subtypeSystemName, r.subtypeDisplayName, r.extra, r.objectID, r.objectType,
				r.objectName, r.changes, r.recordedBy)
			if err == nil && r.eventKey != "" {
				var id int64
				if id, err = res.LastInsertId(); err == nil {
					_, err = insEvent.Exec(r.eventKey, id)
				}
			}
			if err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		fill.mark(min(off+txRows, len(rows)))
	}
	return nil
}

// countActivities counts the rows of a store's database file.
func countActivities(dir string) (int64, error) {
	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "auditlog.db"), true))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRow(`SELECT count(*) FROM activities`).Scan(&n)
	return n, err
}

// --- measurements and reports -------------------------------------------

// procStatus reads a "Vm..." line of /proc/PID/status in KiB.
func procStatus(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// fillParts is how many equal parts of a fill are timed apart: the rate of
// each tenth shows how the cost of recording grows with the store.
const fillParts = 10

// fillProgress times a fill of n rows by tenths. mark is told how many
// rows are done, one call at a time and in order, and notes the first
// moment each tenth of n was reached and the rows done then.
type fillProgress struct {
	n       int
	start   time.Time
	reached int // tenths reached so far
	rows    [fillParts]int
	at      [fillParts]time.Time
}

// newFillProgress starts timing a fill of n rows now.
func newFillProgress(n int) *fillProgress { return &fillProgress{n: n, start: time.Now()} }

// mark notes that done rows are done (acknowledged or committed) now. A
// count past n (the last request body may hold fewer than the others) is
// taken as n.
func (p *fillProgress) mark(done int) {
	done = min(done, p.n)
	now := time.Now()
	for p.reached < fillParts && done >= (p.reached+1)*p.n/fillParts {
		p.rows[p.reached], p.at[p.reached] = done, now
		p.reached++
	}
}

// begin starts the clock again, so that what was done since
// newFillProgress (creating the tables, say) is not timed.
func (p *fillProgress) begin() { p.start = time.Now() }

// complete reports whether the whole fill was marked.
func (p *fillProgress) complete() bool { return p.reached == fillParts }

// rate is the rows per second over the whole fill.
func (p *fillProgress) rate() float64 { return float64(p.n) / p.elapsed().Seconds() }

// elapsed is the time from the start to the last row.
func (p *fillProgress) elapsed() time.Duration { return p.at[fillParts-1].Sub(p.start) }

// tenthRates are the rows per second between the moment each tenth was
// reached and the next (the first from the start).
func (p *fillProgress) tenthRates() [fillParts]float64 {
	var out [fillParts]float64
	prevRows, prevAt := 0, p.start
	for k := range fillParts {
		out[k] = float64(p.rows[k]-prevRows) / p.at[k].Sub(prevAt).Seconds()
		prevRows, prevAt = p.rows[k], p.at[k]
	}
	return out
}

// lastOverFirst is the rate of the last tenth over the rate of the first.
func (p *fillProgress) lastOverFirst() float64 {
	r := p.tenthRates()
	return r[fillParts-1] / r[0]
}

// fillColumn is one side's fill in a table of tenths.
type fillColumn struct {
	name string
	fill *fillProgress
}

// writeTenths writes the rate of every tenth of one or two fills of the
// same size, with the second's over the first's when there are two, and
// the last tenth over the first of each.
func writeTenths(rep *report, cols ...fillColumn) {
	rep.printf("| rows |")
	for _, c := range cols {
		rep.printf(" %s rows/s |", c.name)
	}
	if len(cols) == 2 {
		rep.printf(" %s / %s |", cols[1].name, cols[0].name)
	}
	rep.printf("\n|---|%s\n", strings.Repeat("---:|", len(cols)+len(cols)/2))
	rates := make([][fillParts]float64, len(cols))
	for i, c := range cols {
		rates[i] = c.fill.tenthRates()
	}
	n := cols[0].fill.n
	for k := range fillParts {
		rep.printf("| %s–%s |", thousands(k*n/fillParts), thousands((k+1)*n/fillParts))
		for i := range cols {
			rep.printf(" %.0f |", rates[i][k])
		}
		if len(cols) == 2 {
			rep.printf(" %.2f |", rates[1][k]/rates[0][k])
		}
		rep.printf("\n")
	}
	rep.printf("| last tenth ÷ first |")
	for _, c := range cols {
		rep.printf(" %.2f |", c.fill.lastOverFirst())
	}
	if len(cols) == 2 {
		rep.printf(" |")
	}
	rep.printf("\n\nBatches of %[2]d per tenth: %[1]d. The server acknowledges the requests of one group commit together (up to one per client), so a tenth's ends are known to within a group commit: with few batches a tenth, single tenths' rates are rough (a bunch of acknowledgements can fall just past one end or the other); the whole-fill rate is not affected.\n",
		n/fillParts/batchSize, batchSize)
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// msTarget writes a target duration in milliseconds, as short as it goes:
// 5, 2.5.
func msTarget(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', -1, 64) }

func mib(kib int64) float64 { return float64(kib) / 1024 }

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// report collects one benchmark's markdown, logs it and appends it to the
// file named by AUDITLOG_BENCH_OUT (after a header describing the machine,
// written once per run).
type report struct {
	b       *testing.B
	buf     strings.Builder
	summary string
}

// verdict writes the section's bold result line, which is also logged.
func (r *report) verdict(format string, args ...any) {
	r.summary = fmt.Sprintf(format, args...)
	r.printf("\n**%s**\n", r.summary)
}

func newReport(b *testing.B, title string) *report {
	r := &report{b: b}
	r.printf("## %s\n\n", title)
	r.printf("Load average (1/5/15 min) at start: %s\n\n", loadavg())
	return r
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(&r.buf, format, args...) }

func (r *report) flush() {
	r.printf("\nLoad average (1/5/15 min) at end: %s\n\n", loadavg())
	// The testing package cuts a benchmark's log to 10 lines, so the whole
	// section goes to standard output (and the file), the verdict to the log.
	fmt.Print("\n" + r.buf.String())
	r.b.Log(r.summary)
	path := os.Getenv("AUDITLOG_BENCH_OUT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.b.Error(err)
		return
	}
	defer f.Close()
	headerOnce.Do(func() { io.WriteString(f, machineHeader()) })
	io.WriteString(f, r.buf.String())
}

var headerOnce sync.Once

// machineHeader describes the machine and the software of the run.
func machineHeader() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# auditlog benchmark run, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- CPU: %s, %d logical CPUs (GOMAXPROCS %d)\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- RAM: %s\n", memTotal())
	fmt.Fprintf(&b, "- Go: %s %s/%s; SQLite: %s (mattn/go-sqlite3, bundled)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, sqliteVersion())
	fmt.Fprintf(&b, "- Kernel: %s\n", kernel())
	fmt.Fprintf(&b, "- Work directory: %s\n\n", workDir)
	return b.String()
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
		}
	}
	return "unknown"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func sqliteVersion() string {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return "unknown"
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(context.Background(), "select sqlite_version()").Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// envInt reads a size from the environment: at least 1, or at least 0
// when zero turns something off.
func envInt(b *testing.B, name string, fallback int) int {
	return envIntMin(b, name, fallback, 1)
}

func envIntMin(b *testing.B, name string, fallback, least int) int {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a whole number of at least %d", name, v, least)
	}
	return n
}

// envDuration reads a positive duration from the environment.
func envDuration(b *testing.B, name string, fallback time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 60s", name, v)
	}
	return d
}
