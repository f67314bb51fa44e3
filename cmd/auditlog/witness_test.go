package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/note"
	sumnote "golang.org/x/mod/sumdb/note"

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

func TestVerifyRequiresTheWitnessPolicysQuorum(t *testing.T) {
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
	cosignedCheckpoint(t, srv, token, w, settled(t, srv, token))
	srv.kill() // no checkpoint after the cosigned one

	out, _, err := cli(t, "", "verify", "--data", dir, "--verifier-key", logKey, "--policy", met)
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
