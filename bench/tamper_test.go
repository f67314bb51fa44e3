package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/tlog"
)

// Targets, from the tamper-evidence issue.
const (
	targetProofP99     = 5 * time.Millisecond // inclusion (and consistency) proof through HTTP
	targetVerifyTime   = 5 * time.Second      // auditlog verify of 1,000,000 activities (the store-core issue)
	proofRequests      = 2000                 // timed inclusion proofs
	consistencyRuns    = 500                  // timed consistency proofs
	extraCheckpoints   = 5                    // checkpoints published during the benchmark
	checkpointActs     = 100                  // activities recorded before each of them
	checkpointDeadline = 10 * time.Second
)

// BenchmarkProofs (target 6, proofs): inclusion proofs of random activities
// (GET /api/v1/activities/{id}/proof) and consistency proofs between
// published checkpoints (GET /api/v1/consistency) through HTTP, one
// sequential client, on the 1,000,000-activity store. Every proof is
// checked against the signed roots afterwards.
func BenchmarkProofs(b *testing.B) {
	n := envInt(b, "AUDITLOG_BENCH_PROOF_REQUESTS", proofRequests)
	nc := envInt(b, "AUDITLOG_BENCH_CONSISTENCY_REQUESTS", consistencyRuns)
	dir, fill := queryDataset(b)
	s := startServer(b, dir)
	cp0, err := s.checkpoint()
	if err != nil {
		b.Fatal(err)
	}
	rep := newReport(b, fmt.Sprintf("Target 6a: inclusion and consistency proofs, %d activities", cp0.size))

	// Inclusion proofs into the latest checkpoint (no tree_size given).
	rng := rand.New(rand.NewPCG(6, 6))
	const warm = 50
	type incl struct {
		id    int64
		proof inclusionProof
	}
	var proofs []incl
	durations := make([]time.Duration, 0, n)
	hashes := 0
	for i := range warm + n {
		id := 1 + rng.Int64N(int64(cp0.size))
		t := time.Now()
		body, err := s.do("GET", fmt.Sprintf("/api/v1/activities/%d/proof", id), nil, http.StatusOK)
		d := time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		if i < warm {
			continue
		}
		durations = append(durations, d)
		var p inclusionProof
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		proofs = append(proofs, incl{id, p})
		hashes += len(p.Hashes)
	}
	for _, p := range proofs {
		if err := p.proof.verify(p.id, cp0); err != nil {
			b.Fatalf("inclusion proof of activity %d: %v", p.id, err)
		}
	}
	slices.Sort(durations)

	// More checkpoints: record activities and wait for the checkpointer
	// (it looks for growth every 500 ms) to sign the new size.
	cps := []checkpoint{cp0}
	gen := newActivityGen(uint64(time.Now().UnixNano()))
	for range extraCheckpoints {
		acts := make([]any, checkpointActs)
		for i := range acts {
			acts[i] = gen.next()
		}
		body, _ := json.Marshal(map[string]any{"activities": acts})
		if _, err := s.do("POST", "/api/v1/activities", body, http.StatusCreated); err != nil {
			b.Fatal(err)
		}
		last := cps[len(cps)-1].size
		deadline := time.Now().Add(checkpointDeadline)
		for {
			cp, err := s.checkpoint()
			if err != nil {
				b.Fatal(err)
			}
			if cp.size >= last+checkpointActs {
				cps = append(cps, cp)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no checkpoint beyond size %d within %s", last, checkpointDeadline)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Consistency proofs between two of them, drawn at random (from < to).
	cdur := make([]time.Duration, 0, nc)
	chashes := 0
	type cons struct {
		from, to checkpoint
		hashes   []string
	}
	var conss []cons
	for i := range warm + nc {
		x, y := rng.IntN(len(cps)), rng.IntN(len(cps)-1)
		if y >= x {
			y++
		}
		from, to := cps[min(x, y)], cps[max(x, y)]
		t := time.Now()
		body, err := s.do("GET", fmt.Sprintf("/api/v1/consistency?from=%d&to=%d", from.size, to.size), nil, http.StatusOK)
		d := time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		if i < warm {
			continue
		}
		cdur = append(cdur, d)
		var p struct {
			From, To uint64
			Hashes   []string
		}
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		if p.From != from.size || p.To != to.size {
			b.Fatalf("consistency proof for %d → %d answered %d → %d", from.size, to.size, p.From, p.To)
		}
		conss = append(conss, cons{from, to, p.Hashes})
		chashes += len(p.Hashes)
	}
	for _, c := range conss {
		hs, err := decodeHashes(c.hashes)
		if err != nil {
			b.Fatal(err)
		}
		if err := tlog.VerifyConsistency(c.from.size, c.to.size, hs, c.from.root, c.to.root); err != nil {
			b.Fatalf("consistency proof %d → %d: %v", c.from.size, c.to.size, err)
		}
	}
	slices.Sort(cdur)
	s.stop()

	sizes := make([]string, len(cps))
	for i, c := range cps {
		sizes[i] = fmt.Sprint(c.size)
	}
	rep.printf("Store: the dataset of target 2 (`auditlog demo --count %d --seed 42`, %s); the server signed a checkpoint of size %d as it started. One sequential client; each proof was checked against the signed root afterwards (`tlog.VerifyInclusion`, `tlog.VerifyConsistency`); all passed.\n\n",
		datasetRowsWanted(b), fill, cp0.size)
	rep.printf("- Inclusion: %d timed requests (after %d untimed) `GET /api/v1/activities/{id}/proof`, ids uniform over 1–%d, into the latest checkpoint; %.1f hashes per proof.\n",
		n, warm, cp0.size, float64(hashes)/float64(n))
	rep.printf("- Consistency: %d more checkpoints were made by recording %d activities and polling `GET /api/v1/checkpoint` until the server signed the new size (sizes %s); then %d timed requests (after %d untimed) `GET /api/v1/consistency?from=N&to=M` for random pairs N < M of them; %.1f hashes per proof.\n\n",
		extraCheckpoints, checkpointActs, strings.Join(sizes, ", "), nc, warm, float64(chashes)/float64(nc))
	rep.printf("| proof | requests | p50 ms | p95 ms | p99 ms | max ms | p99 ≤ %d ms |\n|---|---:|---:|---:|---:|---:|---|\n", targetProofP99/time.Millisecond)
	for _, x := range []struct {
		name string
		d    []time.Duration
	}{{"inclusion", durations}, {"consistency", cdur}} {
		rep.printf("| %s | %d | %.2f | %.2f | %.2f | %.2f | %s |\n", x.name, len(x.d), ms(percentile(x.d, 0.5)), ms(percentile(x.d, 0.95)),
			ms(percentile(x.d, 0.99)), ms(x.d[len(x.d)-1]), passFail(percentile(x.d, 0.99) <= targetProofP99))
	}
	p99, cp99 := percentile(durations, 0.99), percentile(cdur, 0.99)
	rep.verdict("inclusion proof p99 %.2f ms, consistency proof p99 %.2f ms (target ≤ %d ms): %s",
		ms(p99), ms(cp99), targetProofP99/time.Millisecond, passFail(p99 <= targetProofP99 && cp99 <= targetProofP99))
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p99), "inclusion_p99_ms")
	b.ReportMetric(ms(cp99), "consistency_p99_ms")
}

// BenchmarkVerify (target 6, verify): `auditlog verify --data DIR` on the
// 1,000,000-activity store with the server stopped. A server is started and
// stopped first, so that a checkpoint signed at its start covers every
// activity.
func BenchmarkVerify(b *testing.B) {
	dir, fill := queryDataset(b)
	s := startServer(b, dir)
	cp, err := s.checkpoint()
	if err != nil {
		b.Fatal(err)
	}
	s.stop()
	stored, err := countActivities(dir)
	if err != nil {
		b.Fatal(err)
	}
	rep := newReport(b, fmt.Sprintf("Target 6b: `auditlog verify` of %d activities", stored))

	syscall.Sync() // the server's last writes go out now, not while verify runs
	time.Sleep(time.Second)
	cmd := exec.Command(mustBinary(b), "verify", "--data", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// The peak RSS is read from /proc while verify runs: its rusage
	// ru_maxrss would also count the benchmark process's own resident set,
	// which Linux carries over into the child at exec.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var hwm int64
	tick := time.NewTicker(20 * time.Millisecond)
wait:
	for {
		select {
		case err = <-exited:
			break wait
		case <-tick.C:
			if v, err := procStatus(cmd.Process.Pid, "VmHWM"); err == nil {
				hwm = max(hwm, v)
			}
		}
	}
	tick.Stop()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("auditlog verify: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	user, sys := cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	m := regexp.MustCompile(`verified (\d+) activities`).FindStringSubmatch(stdout.String())
	if m == nil {
		b.Fatalf("auditlog verify said %q", stdout.String())
	}
	verified, _ := strconv.ParseInt(m[1], 10, 64)
	if verified != stored {
		b.Fatalf("auditlog verify checked %d activities, the store holds %d", verified, stored)
	}

	rep.printf("Store: the dataset of target 2 (`auditlog demo --count %d --seed 42`, %s), %d activities after the earlier benchmarks of the run. A server was started on it (it signs a checkpoint of the whole tree as it starts: size %d) and stopped with SIGTERM; then `auditlog verify --data DIR` ran alone. Peak RSS is the verify process's VmHWM, read from /proc every 20 ms while it ran.\n\n",
		datasetRowsWanted(b), fill, stored, cp.size)
	rep.printf("| activities verified | wall s | user s | sys s | CPU | peak RSS MiB | exit | wall ≤ %.0f s |\n|---:|---:|---:|---:|---:|---:|---:|---|\n", targetVerifyTime.Seconds())
	rep.printf("| %d | %.1f | %.1f | %.1f | %.0f %% | %.1f | %d | %s |\n", verified, wall.Seconds(), user.Seconds(), sys.Seconds(),
		100*(user+sys).Seconds()/wall.Seconds(), mib(hwm), cmd.ProcessState.ExitCode(), passFail(wall <= targetVerifyTime))
	rep.printf("\nIts output:\n\n```\n%s```\n", stdout.String())
	rep.verdict("verify of %d activities took %.1f s (target ≤ %.0f s), exit 0, peak RSS %.1f MiB: %s",
		verified, wall.Seconds(), targetVerifyTime.Seconds(), mib(hwm), passFail(wall <= targetVerifyTime))
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(wall.Seconds(), "verify_s")
	b.ReportMetric(mib(hwm), "verify_peak_rss_MiB")
}

// checkpoint is a signed checkpoint's size and root.
type checkpoint struct {
	size uint64
	root []byte
}

// checkpoint reads GET /api/v1/checkpoint: origin, size and base64 root on
// the first three lines of the signed note.
func (s *server) checkpoint() (checkpoint, error) {
	body, err := s.do("GET", "/api/v1/checkpoint", nil, http.StatusOK)
	if err != nil {
		return checkpoint{}, err
	}
	lines := strings.SplitN(string(body), "\n", 4)
	if len(lines) < 4 {
		return checkpoint{}, fmt.Errorf("checkpoint %q: too short", body)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint size %q: %v", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint root %q: %v", lines[2], err)
	}
	return checkpoint{size, root}, nil
}

type inclusionProof struct {
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	Hashes    []string `json:"hashes"`
}

func (p *inclusionProof) verify(id int64, cp checkpoint) error {
	if p.LeafIndex != uint64(id-1) || p.TreeSize != cp.size {
		return fmt.Errorf("proof of leaf %d in tree %d, want leaf %d in tree %d", p.LeafIndex, p.TreeSize, id-1, cp.size)
	}
	leaf, err := base64.StdEncoding.DecodeString(p.LeafHash)
	if err != nil {
		return err
	}
	hs, err := decodeHashes(p.Hashes)
	if err != nil {
		return err
	}
	return tlog.VerifyInclusion(p.LeafIndex, p.TreeSize, leaf, hs, cp.root)
}

func decodeHashes(in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, h := range in {
		var err error
		if out[i], err = base64.StdEncoding.DecodeString(h); err != nil {
			return nil, err
		}
	}
	return out, nil
}
