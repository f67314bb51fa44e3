package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the auditlog binary: with
// AUDITLOG_TEST_RUN_MAIN=1 it runs main, so tests can start the server as a
// separate process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("AUDITLOG_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cli runs a command in-process and returns its stdout, stderr and error.
func cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// mustCLI runs a command that must succeed and returns its stdout.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, "", args...)
	if err != nil {
		t.Fatalf("auditlog %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// server is an `auditlog serve` process.
type server struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

var servingAddr = regexp.MustCompile(`msg=serving addr=(https?://\S+)`)

// startServer starts `auditlog serve` on a free port over the data directory.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	return startServerWith(t, []string{"--data", dataDir}, env...)
}

// startServerWith starts `auditlog serve` on a free port with the given
// store flags.
func startServerWith(t *testing.T, storeArgs []string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, storeArgs...)...)
	cmd.Env = append(os.Environ(), "AUDITLOG_TEST_RUN_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				found <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.kill() })
	select {
	case s.url = <-found:
	case <-s.exited:
		t.Fatalf("server exited before serving:\n%s", s.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start:\n%s", s.log())
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill sends SIGKILL and waits for the process to end.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// call makes an API request and decodes a JSON answer into out (when not nil).
func call(t testing.TB, method, url, token string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

type listed struct {
	Activities []struct {
		ID         int64           `json:"id"`
		SystemName string          `json:"activity_system_name"`
		Operator   string          `json:"operator"`
		Extra      json.RawMessage `json:"extra"`
		Changes    []any           `json:"object_column_changes"`
	} `json:"activities"`
	NextCursor *string `json:"next_cursor"`
}

// listAll pages through GET /api/v1/activities with the given query.
func listAll(t *testing.T, baseURL, token, query string) listed {
	t.Helper()
	var all listed
	cursor := ""
	for {
		url := fmt.Sprintf("%s/api/v1/activities?limit=1000&%s", baseURL, query)
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		var page listed
		if code := call(t, "GET", url, token, nil, &page); code != 200 {
			t.Fatalf("GET %s: status %d", url, code)
		}
		all.Activities = append(all.Activities, page.Activities...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}
