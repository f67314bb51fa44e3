package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/tlog"
)

// sharedKey makes the signing key that every node of one log is given.
func sharedKey(t *testing.T) (env string, verifierKey string) {
	t.Helper()
	skey, err := tlog.GenerateKey("auditlog.test/multi-node")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return "AUDITLOG_SIGNING_KEY=" + skey, s.VerifierKey
}

// TestTwoServersOnOneDatabaseKeepOneLog runs two `auditlog serve` processes
// on one PostgreSQL database, records through both at once, and expects one
// dense sequence of ids, the same listing from either server, and a log
// that `auditlog verify --database-url` passes.
func TestTwoServersOnOneDatabaseKeepOneLog(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, vkey := sharedKey(t)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "nodes", "--scopes", "activities:read,activities:write"))
	nodes := []*server{
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
	}

	const writers, requests = 4, 15
	var mu sync.Mutex
	var all []int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[w%len(nodes)]
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for r := range requests {
				acts := make([]map[string]any, 1+rng.IntN(40))
				for i := range acts {
					acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "human", "username": fmt.Sprintf("w%d-r%d-%d", w, r, i)}
				}
				var out struct{ IDs []int64 }
				if code := call(t, "POST", node.url+"/api/v1/activities", token, map[string]any{"activities": acts}, &out); code != 201 {
					t.Errorf("writer %d: status %d", w, code)
					return
				}
				if len(out.IDs) != len(acts) || !slices.IsSorted(out.IDs) {
					t.Errorf("writer %d: ids %v for %d activities", w, out.IDs, len(acts))
					return
				}
				mu.Lock()
				all = append(all, out.IDs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Before the writers': the token's creation, then the first start's
	// group and admin user.
	const setup = 3
	slices.Sort(all)
	for i, id := range all {
		if id != int64(setup+i+1) {
			t.Fatalf("ids are not %d to %d, each once: position %d holds %d", setup+1, setup+len(all), i, id)
		}
	}
	first := listAll(t, nodes[0].url, token, "")
	second := listAll(t, nodes[1].url, token, "username=w1-r3-0")
	if len(first.Activities) != setup+len(all) || len(second.Activities) != 1 {
		t.Fatalf("node 1 lists %d activities (want %d); node 2 finds %d of w1-r3-0 (want 1)", len(first.Activities), setup+len(all), len(second.Activities))
	}
	for _, n := range nodes {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-n.exited
	}
	out := mustCLI(t, "verify", "--database-url", dbURL, "--verifier-key", vkey)
	if !strings.Contains(out, fmt.Sprintf("verified %d activities", setup+len(all))) || !strings.Contains(out, fmt.Sprintf("latest signed checkpoint: size %d", setup+len(all))) {
		t.Fatalf("verify printed %q", out)
	}

	// A proof bundle exported from the database verifies offline.
	t.Setenv("AUDITLOG_SIGNING_KEY", strings.TrimPrefix(keyEnv, "AUDITLOG_SIGNING_KEY="))
	bundle := filepath.Join(t.TempDir(), "w1.bundle.json")
	mustCLI(t, "export", "--database-url", dbURL, "--with-proofs", "--username", "w1-r3-0", "--username", "w2-r0-0", "--output", bundle)
	out = mustCLI(t, "verify", "--data", t.TempDir(), "--bundle", bundle, "--verifier-key", vkey)
	if !strings.Contains(out, fmt.Sprintf("verified 2 activities of the bundle against the checkpoint of size %d", setup+len(all))) {
		t.Fatalf("verify --bundle printed %q", out)
	}
}

// TestAServerWithAnotherKeyRefusesToSignTheLog starts a second node with a
// signing key of its own: it must refuse to start rather than sign a log
// of its own on the same database.
func TestAServerWithAnotherKeyRefusesToSignTheLog(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, _ := sharedKey(t)
	mustCLI(t, "demo", "--database-url", dbURL, "--count", "5", "--seed", "1")
	startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv).kill()

	otherEnv, _ := sharedKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--addr", "127.0.0.1:0", "--database-url", dbURL, "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "AUDITLOG_TEST_RUN_MAIN=1", otherEnv)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "same signing key") {
		t.Fatalf("serve with another key: %v\n%s", err, out)
	}
}

// signedPostgresLog fills a fresh database with 60 demo activities signed
// at sizes 30 and 60 by real server processes, and returns its URL and
// the log's verifier key.
func signedPostgresLog(t *testing.T) (string, string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	keyEnv, vkey := sharedKey(t)
	// 60 activities: 58 from the demo, and at 29 and 30 the first start's
	// group and admin user; checkpoints at 30 and 60.
	for _, count := range []string{"28", "30"} {
		mustCLI(t, "demo", "--database-url", dbURL, "--count", count, "--seed", "3")
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv).kill()
	}
	return dbURL, vkey
}

func TestVerifyOnPostgresNamesTheActivityThatWasTamperedWith(t *testing.T) {
	cases := []struct {
		name       string
		statements []string
		want       string
	}{
		{"intact", nil, ""},
		{"an edited activity", []string{`UPDATE activities SET username = 'mallory' WHERE id = 17`}, "activity 17 was altered"},
		{"an activity passed off as another token's", []string{`UPDATE activities SET recorded_by = 'token/99' WHERE id = 18`}, "activity 18 was altered"},
		{"a deleted activity", []string{`DELETE FROM activities WHERE id = 23`}, "activity 23 is missing"},
		{"an activity planted at the end", []string{`INSERT INTO activities (id, created_us, operator, username, activity_system_name,
			activity_display_name, subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes)
			SELECT 61, created_us, operator, username, activity_system_name, activity_display_name, subtype_system_name,
			subtype_display_name, extra, object_id, object_type, 'planted', object_column_changes FROM activities WHERE id = 5`},
			"activity 61 is not in the Merkle tree"},
		{"the newest activities cut off with their tree", []string{`DELETE FROM activities WHERE id > 55`,
			`UPDATE tiles SET hashes = substring(hashes FROM 1 FOR 55 * 32) WHERE level = 0 AND idx = 0`}, "activities 56 to 60 are missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dbURL, vkey := signedPostgresLog(t)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.statements {
				if _, err := conn.Exec(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			conn.Close(ctx)
			out, errOut, err := cli(t, "", "verify", "--database-url", dbURL, "--verifier-key", vkey)
			if c.want == "" {
				if err != nil || !strings.Contains(out, "verified 60 activities") {
					t.Fatalf("verify of the intact log: %v\n%s%s", err, out, errOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("verify passed a tampered log:\n%s", out)
			}
			if msg := describe(err); !strings.Contains(msg, c.want) {
				t.Fatalf("verify said %q (details: %s); want it to name %q", msg, errOut, c.want)
			}
		})
	}
}

// TestANodeKilledDuringIngestLeavesTheOtherGoing kills one of two nodes
// with SIGKILL while both record (it may hold the tree lock at that
// moment): the other node goes on recording, and afterwards the ids are
// dense, every acknowledged activity is stored under its id and the log
// verifies.
func TestANodeKilledDuringIngestLeavesTheOtherGoing(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, vkey := sharedKey(t)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "nodes", "--scopes", "activities:read,activities:write"))
	nodes := []*server{
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	acked := map[int64]string{} // id -> username
	var survivorAcks, afterKill atomic.Int64
	var killed atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[w%2]
			for r := 0; r < 400; r++ {
				acts := make([]map[string]any, 20)
				for i := range acts {
					acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "human", "username": fmt.Sprintf("w%d-r%d-%d", w, r, i)}
				}
				body, _ := json.Marshal(map[string]any{"activities": acts})
				req, _ := http.NewRequest("POST", node.url+"/api/v1/activities", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // this node is gone
				}
				var out struct{ IDs []int64 }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 201 {
					continue
				}
				mu.Lock()
				for i, id := range out.IDs {
					acked[id] = fmt.Sprintf("w%d-r%d-%d", w, r, i)
				}
				mu.Unlock()
				if w%2 == 1 {
					survivorAcks.Add(1)
					if killed.Load() && afterKill.Add(1) >= 20 {
						return
					}
				}
			}
		}()
	}
	for survivorAcks.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	nodes[0].kill()
	killed.Store(true)
	wg.Wait()
	if err := nodes[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-nodes[1].exited
	if afterKill.Load() < 20 {
		t.Fatalf("the surviving node acknowledged only %d requests after the other was killed", afterKill.Load())
	}

	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var count, maxID int64
	if err := conn.QueryRow(context.Background(), `SELECT count(*), coalesce(max(id), 0) FROM activities`).Scan(&count, &maxID); err != nil {
		t.Fatal(err)
	}
	if count != maxID {
		t.Fatalf("%d activities with ids up to %d: not dense", count, maxID)
	}
	for id, username := range acked {
		var stored string
		if err := conn.QueryRow(context.Background(), `SELECT username FROM activities WHERE id = $1`, id).Scan(&stored); err != nil || stored != username {
			t.Fatalf("acknowledged activity %d (%s): stored %q, %v", id, username, stored, err)
		}
	}
	out := mustCLI(t, "verify", "--database-url", dbURL, "--verifier-key", vkey)
	if !strings.Contains(out, fmt.Sprintf("verified %d activities", count)) {
		t.Fatalf("verify printed %q", out)
	}
}

// verify with --database-url and the key of another log (a data directory
// left by another installation) says the key is another log's, and where
// it came from, rather than that the signatures fail.
func TestVerifyOnPostgresWithAnotherLogsKeySaysSo(t *testing.T) {
	dbURL, _ := signedPostgresLog(t)
	elsewhere := t.TempDir()
	if _, _, err := tlog.LoadOrCreateKey(filepath.Join(elsewhere, keyFileName), "another.example/log"); err != nil {
		t.Fatal(err)
	}
	_, _, err := cli(t, "", "verify", "--database-url", dbURL, "--data", elsewhere)
	msg := describe(err)
	for _, want := range []string{"of another log", `"another.example/log"`, filepath.Join(elsewhere, keyFileName)} {
		if err == nil || !strings.Contains(msg, want) {
			t.Fatalf("verify with another log's key: %v; want it to say %q", err, want)
		}
	}
}
