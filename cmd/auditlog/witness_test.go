package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/note"
	sumnote "golang.org/x/mod/sumdb/note"
)

// litewitness is a running filippo.io/torchwood/cmd/litewitness, the
// project's test command installs it, with its key in an ssh-agent of its
// own.
type litewitness struct {
	vkey, url, db string
	cmd           *exec.Cmd
}

// tool finds a peer binary the test command installs: in CI a missing one
// fails the test, elsewhere it skips it.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (make test installs it): %v", name, err)
		}
		t.Skipf("%s is not installed (make test installs it); CI fails instead", name)
	}
	return path
}

var litewitnessKey = regexp.MustCompile(`msg="verifier key" vkey=(\S+)`)

// startLitewitness starts a witness that knows the log of the given
// origin and verifier key.
func startLitewitness(t *testing.T, origin, logKey string) *litewitness {
	t.Helper()
	lw, ctl := tool(t, "litewitness"), tool(t, "witnessctl")
	dir := t.TempDir()
	key := filepath.Join(dir, "witness")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "witness", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not start")
		}
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	w := &litewitness{db: filepath.Join(dir, "witness.db")}
	for _, args := range [][]string{{"add-log", "-db", w.db, "-origin", origin}, {"add-key", "-db", w.db, "-origin", origin, "-key", logKey}} {
		if out, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %s: %v\n%s", args[0], err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w.url = "http://" + addr
	w.cmd = exec.Command(lw, "-name", "auditlog.test/witness", "-db", w.db, "-ssh-agent", sock, "-key", strings.Fields(string(fp))[1], "-listen", addr)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := litewitnessKey.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case w.vkey = <-found:
	case <-time.After(10 * time.Second):
		t.Fatal("litewitness did not start")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return w
		}
		if time.Now().After(deadline) {
			t.Fatal("litewitness does not listen")
		}
	}
}

func (w *litewitness) stop() {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
}

// cosignedCheckpoint waits until the service serves a checkpoint of at
// least size activities that the witness cosigned, and returns its size.
func cosignedCheckpoint(t *testing.T, srv *server, token string, w *litewitness, size int64) int64 {
	t.Helper()
	v, err := note.NewVerifierForCosignatureV1(w.vkey)
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
	w := startLitewitness(t, origin, logKey)
	dir := t.TempDir()
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "w", "--scopes", "activities:read,activities:write,admin"))
	witnessFlag := []string{"--data", dir, "--witness", w.vkey + " " + w.url}
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
	fork := startServerWith(t, []string{"--data", forkDir, "--witness", w.vkey + " " + w.url}, keyEnv)
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
	w.stop()
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
	w := startLitewitness(t, strings.SplitN(logKey, "+", 2)[0], logKey)
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
		met:   fmt.Sprintf("log %s\nwitness lw %s %s\nquorum lw\n", logKey, w.vkey, w.url),
		unmet: fmt.Sprintf("witness lw %s %s\nwitness absent %s http://127.0.0.1:1\ngroup both all lw absent\nquorum both\n", w.vkey, w.url, absent),
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
