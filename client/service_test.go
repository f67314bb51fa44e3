package client_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/tlog"
)

// The tests of this package run the real service: TestMain builds the
// auditlog binary, and each test starts `auditlog serve` processes on
// stores of its own.

var auditlogBinary string

func TestMain(m *testing.M) {
	if os.Getenv(producerEnv) != "" {
		runProducer()
		return
	}
	dir, err := os.MkdirTemp("", "auditlog-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	auditlogBinary = filepath.Join(dir, "auditlog")
	build := exec.Command("go", "build", "-o", auditlogBinary, "github.com/auditlog/auditlog/cmd/auditlog")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building auditlog:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// service is an `auditlog serve` process on a store of its own, which
// can be killed and started again on the same address.
type service struct {
	t       *testing.T
	dir     string
	addr    string
	env     []string
	cmd     *exec.Cmd
	logs    *strings.Builder
	logsMu  *sync.Mutex
	stopped chan struct{}
}

// startService creates a store in a new directory and serves it; env
// adds to the server's environment (such as its signing key).
func startService(t *testing.T, env ...string) *service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &service{t: t, dir: t.TempDir(), addr: addr, env: env, logs: &strings.Builder{}, logsMu: &sync.Mutex{}}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *service) url() string { return "http://" + s.addr }

// auditlog runs a command of the binary on the service's store.
func (s *service) auditlog(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(auditlogBinary, append(args, "--data", s.dir)...)
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

// token creates an API token with the given scopes.
func (s *service) token(scopes string) string {
	return s.auditlog("token", "create", "--name", "client-test", "--scopes", scopes)
}

// start starts the server and waits until it answers.
func (s *service) start() {
	s.t.Helper()
	s.cmd = exec.Command(auditlogBinary, "serve", "--addr", s.addr, "--data", s.dir)
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
		resp, err := http.Get(s.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.stopped:
			s.t.Fatalf("auditlog serve exited:\n%s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("auditlog serve did not answer on %s:\n%s", s.addr, s.log())
		}
	}
}

// kill ends the server with SIGKILL.
func (s *service) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.stopped
	}
}

func (s *service) log() string {
	s.logsMu.Lock()
	defer s.logsMu.Unlock()
	return s.logs.String()
}

// exec runs SQL statements on the service's SQLite file, as someone with
// write access to the database would.
func (s *service) exec(statements ...string) {
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

func newClient(t *testing.T, s *service, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{URL: s.url(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sharedKey is a signing key for servers that must sign as one log.
func sharedKey(t *testing.T) (env, verifierKey string) {
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

// objectCounts lists every activity of an object type and counts them by
// object id.
func objectCounts(t *testing.T, c *client.Client, objectType string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for a, err := range c.List(context.Background(), client.Filter{ObjectTypes: []string{objectType}}, 1000) {
		if err != nil {
			t.Fatal(err)
		}
		counts[a.ObjectID]++
	}
	return counts
}

// edit is an activity of the test's object type with a numbered object id.
func edit(objectType string, n int) client.Activity {
	return client.Activity{SystemName: "EDIT_USER", Operator: client.Machine, ObjectType: objectType, ObjectID: fmt.Sprint(n), ObjectName: fmt.Sprintf("object %d", n)}
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
