package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/note"
	sumnote "golang.org/x/mod/sumdb/note"

	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/witness/witnesstest"
)

// cosignedCheckpoint waits until the service serves a checkpoint of at
// least size activities that the witness cosigned, and returns its size.
func cosignedCheckpoint(t *testing.T, srv *server, token string, w *witnesstest.Litewitness, size int64) int64 {
	t.Helper()
	v, err := note.NewVerifierForCosignatureV1(w.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		body = getText(t, srv.url+"/tlog/checkpoint", token)
		if n, err := sumnote.Open(body, sumnote.VerifierList(v)); err == nil {
			var got int64
			fmt.Sscanf(strings.Split(n.Text, "\n")[1], "%d", &got)
			if got >= size {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no checkpoint of %d activities cosigned by the witness; the last served:\n%s\n%s", size, body, srv.log())
	return 0
}

type witnessStateJSON struct {
	Witnesses []struct {
		Name      string `json:"name"`
		Size      int64  `json:"size"`
		LastError string `json:"last_error"`
	} `json:"witnesses"`
}

func witnessState(t *testing.T, srv *server, token string) witnessStateJSON {
	t.Helper()
	var st witnessStateJSON
	if code := call(t, "GET", srv.url+"/api/v1/witnesses", token, nil, &st); code != 200 || len(st.Witnesses) != 1 {
		t.Fatalf("GET /api/v1/witnesses: %d %+v", code, st)
	}
	return st
}

func TestALitewitnessCosignsTheLog(t *testing.T) {
	keyEnv, logKey := sharedKey(t)
	origin := strings.SplitN(logKey, "+", 2)[0]
	w := witnesstest.Start(t, origin, logKey)
	dir := t.TempDir()
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:read,activities:write,admin"))
	witnessFlag := []string{"--data", dir, "--witness", w.VerifierKey + " " + w.URL}
	srv := startServerWith(t, witnessFlag, keyEnv)

	// Each new checkpoint is cosigned, the first from size 0, the next
	// with a consistency proof from the one before.
	first := cosignedCheckpoint(t, srv, token, w, recordEdits(t, srv, token, "a", 30))
	second := cosignedCheckpoint(t, srv, token, w, recordEdits(t, srv, token, "b", 300))
	if second <= first {
		t.Fatalf("cosigned sizes %d then %d", first, second)
	}
	if st := witnessState(t, srv, token); st.Witnesses[0].Name != "auditlog.test/witness" || st.Witnesses[0].Size < second || st.Witnesses[0].LastError != "" {
		t.Fatalf("witness state %+v, want size %d and no error", st, second)
	}
	metrics := string(getText(t, srv.url+"/metrics", token))
	if !regexp.MustCompile(`auditlog_witness_cosigned_size\{witness="auditlog.test/witness"\} \d+`).MatchString(metrics) ||
		!strings.Contains(metrics, `auditlog_witness_failing{witness="auditlog.test/witness"} 0`) {
		t.Fatalf("the metrics lack the witness's state:\n%s", metrics)
	}

	// The log forgets what the witness cosigned: the witness answers 409
	// with its size, and the service resynchronises from it.
	tamper(t, dir, `UPDATE witness_states SET size = 3`)
	third := cosignedCheckpoint(t, srv, token, w, recordEdits(t, srv, token, "c", 10))
	if st := witnessState(t, srv, token); st.Witnesses[0].Size != third || st.Witnesses[0].LastError != "" {
		t.Fatalf("after the resynchronisation: %+v, want size %d", st, third)
	}

	// Another history under the same key and origin, longer than what the
	// witness cosigned: it refuses the inconsistent checkpoint.
	// Its first checkpoint goes with old size 0; the witness's 409 names
	// its size, and the proof from there does not verify: 422.
	forkDir := t.TempDir()
	mustCLI(t, "demo", "--data", forkDir, "--count", fmt.Sprint(third+50))
	forkToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", forkDir, "--name", "w", "--scopes", "activities:read,activities:write"))
	fork := startServerWith(t, []string{"--data", forkDir, "--witness", w.VerifierKey + " " + w.URL}, keyEnv)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st witnessStateJSON
		call(t, "GET", fork.url+"/api/v1/witnesses", forkToken, nil, &st)
		if len(st.Witnesses) == 1 && st.Witnesses[0].LastError != "" {
			if !strings.Contains(st.Witnesses[0].LastError, "422 Unprocessable Entity") {
				t.Fatalf("the fork's witness error: %q", st.Witnesses[0].LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witness cosigned a forked history: %+v\n%s", st, fork.log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A witness that is down never blocks recording, and its state says so.
	w.Stop()
	start := time.Now()
	recordEdits(t, srv, token, "d", 5)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("recording took %v with the witness down", d)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := witnessState(t, srv, token); st.Witnesses[0].LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the state of a witness that is down shows no error")
		}
	}
}

func TestVerifyAndMonitorRequireTheWitnessPolicysQuorum(t *testing.T) {
	keyEnv, logKey := sharedKey(t)
	w := witnesstest.Start(t, strings.SplitN(logKey, "+", 2)[0], logKey)
	_, absentKey, err := sumnote.GenerateKey(rand.Reader, "auditlog.test/absent")
	if err != nil {
		t.Fatal(err)
	}
	absent, err := note.VKeyToCosignatureV1(absentKey)
	if err != nil {
		t.Fatal(err)
	}
	policies := t.TempDir()
	met, unmet := filepath.Join(policies, "met"), filepath.Join(policies, "unmet")
	for path, text := range map[string]string{
		met:   fmt.Sprintf("log %s\nwitness lw %s %s\nquorum lw\n", logKey, w.VerifierKey, w.URL),
		unmet: fmt.Sprintf("witness lw %s %s\nwitness absent %s http://127.0.0.1:1\ngroup both all lw absent\nquorum both\n", w.VerifierKey, w.URL, absent),
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:read,activities:write"))
	srv := startServerWith(t, []string{"--data", dir, "--witness-policy", met}, keyEnv)
	recordEdits(t, srv, token, "a", 40)
	size := cosignedCheckpoint(t, srv, token, w, settled(t, srv, token))

	// The monitor advances only to a checkpoint that carries the quorum.
	state := filepath.Join(t.TempDir(), "monitor.state")
	out, errOut, err := cli(t, "", "monitor", "--once", "--url", srv.url, "--verifier-key", logKey, "--state", state, "--token", token, "--policy", unmet)
	if err == nil || !strings.Contains(describe(err), fmt.Sprintf("the checkpoint of size %d does not carry the witness policy's quorum", size)) || out != "" {
		t.Fatalf("monitor with a policy the checkpoint does not meet: %v, printed %q\n%s", err, out, errOut)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("the monitor saved a checkpoint its policy does not accept: %v", err)
	}
	out, errOut, err = cli(t, "", "monitor", "--once", "--url", srv.url, "--verifier-key", logKey, "--state", state, "--token", token, "--policy", met)
	if err != nil || strings.Count(out, "\n") != int(size) {
		t.Fatalf("monitor with a policy the witness meets: %v, %d activities printed of %d\n%s", err, strings.Count(out, "\n"), size, errOut)
	}
	srv.kill() // no checkpoint after the cosigned one

	out, _, err = cli(t, "", "verify", "--data", dir, "--verifier-key", logKey, "--policy", met)
	if err != nil || !strings.Contains(out, "witnessed: the checkpoint of size") {
		t.Fatalf("verify with a policy the witness meets: %v\n%s", err, out)
	}
	if _, _, err := cli(t, "", "verify", "--data", dir, "--verifier-key", logKey, "--policy", unmet); err == nil ||
		!strings.Contains(describe(err), "no checkpoint carries the cosignatures of the witness policy's quorum") {
		t.Fatalf("verify with a policy no checkpoint meets: %v", err)
	}

	bundle := filepath.Join(t.TempDir(), "bundle.json")
	t.Setenv("AUDITLOG_SIGNING_KEY", strings.TrimPrefix(keyEnv, "AUDITLOG_SIGNING_KEY=")) // the export names the log's key
	mustCLI(t, "export", "--data", dir, "--with-proofs", "--output", bundle)
	if out, _, err := cli(t, "", "verify", "--bundle", bundle, "--verifier-key", logKey, "--policy", met); err != nil || !strings.Contains(out, "witnessed") {
		t.Fatalf("verify --bundle with a policy the witness meets: %v\n%s", err, out)
	}
	if _, _, err := cli(t, "", "verify", "--bundle", bundle, "--verifier-key", logKey, "--policy", unmet); err == nil ||
		!strings.Contains(describe(err), "lacks the cosignatures of the witness policy's quorum") {
		t.Fatalf("verify --bundle with a policy the bundle does not meet: %v", err)
	}
}

func TestTwoPostgresNodesServeOneCosignedCheckpoint(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, logKey := sharedKey(t)
	w := witnesstest.Start(t, strings.SplitN(logKey, "+", 2)[0], logKey)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "nodes", "--scopes", "activities:read,activities:write"))
	var nodes []*server
	for range 2 {
		nodes = append(nodes, startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir(), "--witness", w.VerifierKey + " " + w.URL}, keyEnv))
	}
	for round := range 3 {
		// Both nodes record and sign; either may submit to the witness.
		for i, node := range nodes {
			recordEdits(t, node, token, fmt.Sprint("round", round, "node", i), 50+round*31)
		}
		size := settled(t, nodes[round%2], token)
		cosigned := cosignedCheckpoint(t, nodes[0], token, w, size)
		// Every node serves the same checkpoint with the same cosignature.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			a, b := getText(t, nodes[0].url+"/tlog/checkpoint", token), getText(t, nodes[1].url+"/tlog/checkpoint", token)
			if string(a) == string(b) && strings.Contains(string(a), fmt.Sprintf("\n%d\n", cosigned)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the nodes serve different checkpoints:\n%s\n---\n%s", round, a, b)
			}
		}
		for _, node := range nodes {
			if st := witnessState(t, node, token); st.Witnesses[0].LastError != "" {
				t.Fatalf("round %d: the witness's state on %s: %+v", round, node.url, st)
			}
		}
	}
}

func TestTheWitnessIntervalBoundsTheAddCheckpointRate(t *testing.T) {
	keyEnv, logKey := sharedKey(t)
	w := witnesstest.Start(t, strings.SplitN(logKey, "+", 2)[0], logKey)
	// A proxy in front of the witness counts the submissions it gets.
	target, err := url.Parse(w.URL)
	if err != nil {
		t.Fatal(err)
	}
	var submissions atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/add-checkpoint") {
			submissions.Add(1)
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/front")
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	dir := t.TempDir()
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:read,activities:write"))
	srv := startServerWith(t, []string{"--data", dir, "--witness", w.VerifierKey + " " + front.URL + "/front" + target.Path, "--witness-interval", "1500ms"}, keyEnv)

	// A new checkpoint about every half second for 4.5 s: at most one
	// submission per 1.5 s goes to the witness.
	start := time.Now()
	for i := 0; time.Since(start) < 4500*time.Millisecond; i++ {
		recordEdits(t, srv, token, fmt.Sprint("tick", i), 3)
		time.Sleep(100 * time.Millisecond)
	}
	if n := submissions.Load(); n < 2 || n > 5 {
		t.Fatalf("%d add-checkpoint requests in %v with --witness-interval 1500ms, want 2 to 5", n, time.Since(start).Round(time.Millisecond))
	}
	// The newest checkpoint is still cosigned, a round later.
	cosignedCheckpoint(t, srv, token, w, settled(t, srv, token))

	// (An address that cannot be listened on ends serve if the flag is not checked.)
	if _, errOut, err := cli(t, "", "serve", "--addr", "256.0.0.1:1", "--data", t.TempDir(), "--witness-interval", "0s"); err == nil || !strings.Contains(err.Error(), "--witness-interval") {
		t.Fatalf("serve --witness-interval 0s: %v\n%s", err, errOut)
	}
}
