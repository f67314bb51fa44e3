// Package witnesstest runs a real C2SP tlog-witness for tests:
// filippo.io/torchwood's litewitness, with its key in an ssh-agent of its
// own. make test installs litewitness and witnessctl; without them a test
// fails in CI (CI set) and is skipped elsewhere.
package witnesstest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Litewitness is a running litewitness.
type Litewitness struct {
	// VerifierKey is its cosignature/v1 verifier key, URL its submission
	// prefix.
	VerifierKey, URL string
	db               string
	cmd              *exec.Cmd
}

// tool finds a peer binary the test command installs: in CI a missing one
// fails the test, elsewhere it skips it.
func tool(t testing.TB, name string) string {
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

// Start starts a witness that knows the log of the given origin and
// verifier key; it stops when the test ends.
func Start(t testing.TB, origin, logKey string) *Litewitness {
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
	w := &Litewitness{db: filepath.Join(dir, "witness.db")}
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
	w.URL = "http://" + addr
	w.cmd = exec.Command(lw, "-name", "auditlog.test/witness", "-db", w.db, "-ssh-agent", sock, "-key", strings.Fields(string(fp))[1], "-listen", addr)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
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
	case w.VerifierKey = <-found:
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

// Stop kills the witness, as a crash would.
func (w *Litewitness) Stop() {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
}
