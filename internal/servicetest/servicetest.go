// Package servicetest runs the real auditlog binary for the tests of
// packages that talk to the service over HTTP, as a user's program would
// (the Go client, the examples): Main builds the binary once per test
// process, Start serves a store of its own that a test can kill and start
// again on the same address.
package servicetest

import (
	"bufio"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // Exec's driver

	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/tlog"
)

var binary string

// Main builds the auditlog binary, runs the tests and removes it; call it
// from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "auditlog-servicetest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "auditlog")
	build := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", binary, "github.com/auditlog/auditlog/cmd/auditlog")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building auditlog:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Service is an `auditlog serve` process on a store of its own, which
// can be killed and started again on the same address.
type Service struct {
	t       *testing.T
	dir     string
	addr    string
	env     []string
	cmd     *exec.Cmd
	logs    *strings.Builder
	logsMu  *sync.Mutex
	stopped chan struct{}
}

// Start creates a store in a new directory and serves it; env
// adds to the server's environment (such as its signing key).
func Start(t *testing.T, env ...string) *Service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Service{t: t, dir: t.TempDir(), addr: addr, env: env, logs: &strings.Builder{}, logsMu: &sync.Mutex{}}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Dir is the service's data directory.
func (s *Service) Dir() string { return s.dir }

// URL is the service's address.
func (s *Service) URL() string { return "http://" + s.addr }

// CLI runs a command of the binary on the service's store.
func (s *Service) CLI(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binary, append(args, "--data", s.dir)...)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		s.t.Fatalf("auditlog %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// Token creates an API token with the given scopes.
func (s *Service) Token(scopes string) string {
	return s.CLI("token", "create", "--name", "client-test", "--scopes", scopes)
}

// Restart starts the server and waits until it answers.
func (s *Service) Restart() {
	s.t.Helper()
	s.cmd = exec.Command(binary, "serve", "--addr", s.addr, "--data", s.dir)
	s.cmd.Env = append(os.Environ(), s.env...)
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.stopped = make(chan struct{})
	go func(stopped chan struct{}) {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.logsMu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.logsMu.Unlock()
		}
		s.cmd.Wait()
		close(stopped)
	}(s.stopped)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.stopped:
			s.t.Fatalf("auditlog serve exited:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("auditlog serve did not answer on %s:\n%s", s.addr, s.Log())
		}
	}
}

// Kill ends the server with SIGKILL.
func (s *Service) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.stopped
	}
}

// Log is what the server wrote to its standard error.
func (s *Service) Log() string {
	s.logsMu.Lock()
	defer s.logsMu.Unlock()
	return s.logs.String()
}

// Exec runs SQL statements on the service's SQLite file, as someone with
// write access to the database would.
func (s *Service) Exec(statements ...string) {
	s.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.dir, sqlite.FileName)+"?_busy_timeout=10000")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	for _, st := range statements {
		if _, err := db.Exec(st); err != nil {
			s.t.Fatalf("%s: %v", st, err)
		}
	}
}

// SharedKey is a signing key for servers that must sign as one log.
func SharedKey(t *testing.T) (env, verifierKey string) {
	t.Helper()
	skey, err := tlog.GenerateKey("auditlog.test/client")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return "AUDITLOG_SIGNING_KEY=" + skey, signer.VerifierKey
}
