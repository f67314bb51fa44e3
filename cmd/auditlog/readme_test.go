package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlock is one ```sh block of the README, with the line it starts on.
type readmeBlock struct {
	line  int
	lines []string
}

// readmeShellBlocks returns the README's shell examples, in order: every
// ```sh block except those marked "norun" (the quick start, which is the
// test suite itself, and the production PostgreSQL example, whose hosts
// are placeholders).
func readmeShellBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && line == "```sh":
			cur = &readmeBlock{line: n}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// The README's examples address the service at its default address, run
// the demo at a size that takes a while and log in with a placeholder
// password; the test runs them with these, and nothing else, replaced.
var (
	readmeAddress  = "http://127.0.0.1:8080"
	readmeCount    = regexp.MustCompile(`--count 100000\b`)
	readmePassword = `"password": "..."`
	readmeServe    = regexp.MustCompile(`^auditlog serve\s*(#.*)?$`)
)

// TestEveryReadmeExampleWorksAsWritten runs the README's shell examples in
// order, in one working directory (the default data directory), against a
// real server started where the README starts it, with the auditlog
// binary on PATH. Each block must exit 0, and curl fails on an HTTP error.
func TestEveryReadmeExampleWorksAsWritten(t *testing.T) {
	blocks := readmeShellBlocks(t)
	if len(blocks) < 8 {
		t.Fatalf("the README has %d runnable shell examples: the parser lost some", len(blocks))
	}
	work := t.TempDir()
	bin := t.TempDir()
	// The test binary is the auditlog binary (TestMain).
	script := fmt.Sprintf("#!/bin/sh\nAUDITLOG_TEST_RUN_MAIN=1 exec %q \"$@\"\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(bin, "auditlog"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// curl: fail on an HTTP error, still showing the body (unless the
	// example asks for --fail itself).
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed to run the README's examples: %v", err)
	}
	curlScript := fmt.Sprintf(`#!/bin/sh
fail=--fail-with-body
for a in "$@"; do
  case "$a" in --fail|--fail-with-body) fail= ;; --*) ;; -*f*) fail= ;; esac
done
exec %q $fail "$@"
`, curl)
	if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(curlScript), 0o755); err != nil {
		t.Fatal(err)
	}
	const adminPassword = "readme admin password"
	state := filepath.Join(work, ".readme-env")
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := ""
	var serving *exec.Cmd
	t.Cleanup(func() {
		if serving != nil {
			serving.Process.Kill()
			serving.Wait()
		}
	})
	for _, b := range blocks {
		var body []string
		startsServer := false
		for _, line := range b.lines {
			if readmeServe.MatchString(line) {
				startsServer = true
				continue // the test starts it, in the background, below
			}
			line = readmeCount.ReplaceAllString(line, "--count 2000")
			line = strings.ReplaceAll(line, readmePassword, fmt.Sprintf(`"password": %q`, adminPassword))
			if base != "" {
				line = strings.ReplaceAll(line, readmeAddress, base)
			} else if strings.Contains(line, readmeAddress) {
				t.Fatalf("README line %d addresses the service before the README starts it", b.line)
			}
			body = append(body, line)
		}
		// Variables carry from block to block, as in one terminal.
		cmd := exec.Command("bash", "-c", "set -euo pipefail -a\nsource "+state+"\n"+strings.Join(body, "\n")+"\nexport -p | grep -v -E '^declare -[a-zA-Z]*r' > "+state)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "AUDITLOG_ADMIN_PASSWORD="+adminPassword)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the README's example at line %d fails: %v\n%s\n--- output:\n%s", b.line, err, strings.Join(body, "\n"), out)
		}
		if startsServer {
			serving = exec.Command(filepath.Join(bin, "auditlog"), "serve", "--addr", "127.0.0.1:0")
			serving.Dir = work
			serving.Env = cmd.Env
			log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
			if err != nil {
				t.Fatal(err)
			}
			serving.Stdout, serving.Stderr = log, log
			if err := serving.Start(); err != nil {
				t.Fatal(err)
			}
			base = waitForServing(t, log.Name())
		}
	}
	if base == "" {
		t.Fatal("no README example starts the server")
	}
}

// waitForServing waits for the server's "serving" line in its log and
// returns its address.
func waitForServing(t *testing.T, logPath string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if m := servingAddr.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("the server did not start:\n%s", b)
	return ""
}
