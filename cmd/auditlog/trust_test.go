package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/tlog"
)

// serveRefuses starts `auditlog serve` over dir, which must refuse to
// start, and returns what it said.
func serveRefuses(t *testing.T, dir string) string {
	t.Helper()
	return serveRefusesWith(t, []string{"--data", dir})
}

// serveRefusesWith starts `auditlog serve` with the given store flags
// and environment; it must refuse to start.
func serveRefusesWith(t *testing.T, storeArgs []string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, storeArgs...)...)
	cmd.Env = append(append(os.Environ(), "AUDITLOG_TEST_RUN_MAIN=1"), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("serve kept running over a store whose history was forged:\n%s", out)
	}
	if err == nil {
		t.Fatalf("serve exited 0 over a store whose history was forged:\n%s", out)
	}
	return string(out)
}

// Someone who can write to the database, but does not hold the signing
// key, forges history the way the attacks on the earlier version did; the
// service must neither sign the result nor record on top of it, across a
// restart, and verify must say so by itself.
func TestAForgedHistoryIsRefusedAtStartAndByVerify(t *testing.T) {
	signed := signedLog(t)
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		// said is what serve must say it found, verified what verify names.
		said, verified string
	}{
		{"an edited activity, its tree made anew, the checkpoints deleted", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET username = 'mallory' WHERE id = 25`)
			forgeTree(t, dir)
		}, "history was rewritten after it was signed", "activities 1 to 60 do not match the saved checkpoint of size 60"},
		{"an edited activity, its tree made anew, the checkpoints after it deleted", func(t *testing.T, dir string) {
			before := copyLog(t, dir)
			tamper(t, dir, `UPDATE activities SET username = 'mallory' WHERE id = 40`)
			forgeTree(t, dir)
			// The checkpoint of 28, which the edit left true, goes back.
			tamper(t, dir, `ATTACH DATABASE '`+filepath.Join(before, "auditlog.db")+`' AS before`,
				`INSERT INTO checkpoints SELECT * FROM before.checkpoints WHERE tree_size <= 28`)
		}, "history was rewritten after it was signed", "do not match the saved checkpoint of size 60"},
		{"the newest three activities deleted with their leaves and checkpoint", func(t *testing.T, dir string) {
			tamper(t, dir, `DELETE FROM activities WHERE id > 57`,
				`UPDATE tiles SET hashes = CAST(substr(hashes, 1, 57 * 32) AS BLOB) WHERE level = 0 AND idx = 0`,
				`DELETE FROM checkpoints WHERE tree_size > 57`)
		}, "activities were removed after they were signed", "activities 58 to 60 are missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyLog(t, signed)
			c.tamper(t, dir)
			for range 2 { // and again, as after a restart
				said := serveRefuses(t, dir)
				for _, want := range []string{"does not extend the checkpoint saved in " + filepath.Join(dir, tlog.SavedCheckpointFile), "(size 60, root ", c.said, "docs/security.md"} {
					if !strings.Contains(said, want) {
						t.Fatalf("serve said:\n%s\nwant it to say %q", said, want)
					}
				}
			}
			_, _, err := cli(t, "", "verify", "--data", dir)
			if err == nil || !strings.Contains(describe(err), c.verified) {
				t.Fatalf("verify, with the checkpoint the service saved: %v; want it to name %q", err, c.verified)
			}
			info, err := os.Stat(filepath.Join(dir, tlog.SavedCheckpointFile))
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("the saved checkpoint: %v, mode %v; want 0600", err, info.Mode().Perm())
			}
		})
	}
}

// The same deletion behind a running server's back: it refuses to record
// at once (the ids 58 to 60 are never handed out again) and refuses to
// sign, saying why.
func TestActivitiesRemovedWhileServingStopTheServiceFromRecording(t *testing.T) {
	dir := copyLog(t, signedLog(t))
	srv := startServer(t, dir)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "ingest", "--scopes", "activities:write"))
	activity := map[string]any{"activity_system_name": "USER_LOGIN", "operator": "human", "username": "jdoe"}
	var recorded struct{ IDs []int64 }
	if code := call(t, "POST", srv.url+"/api/v1/activities", token, activity, &recorded); code != 201 {
		t.Fatalf("recording before the attack: status %d", code)
	}
	last := recorded.IDs[0]
	tamper(t, dir, `DELETE FROM activities WHERE id > 57`,
		`UPDATE tiles SET hashes = CAST(substr(hashes, 1, 57 * 32) AS BLOB) WHERE level = 0 AND idx = 0`,
		`DELETE FROM checkpoints WHERE tree_size > 57`)
	code, body := postRaw(t, srv.url+"/api/v1/activities", token, activity)
	if code != 503 || !strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "activities were removed") {
		t.Fatalf("recording after %d activities were removed: status %d, %s; want 503 saying they were removed", last-57, code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(srv.log(), "checkpoint not published") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not report the refused checkpoint:\n%s", srv.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(srv.log(), "activities were removed after they were signed") {
		t.Fatalf("the server's log does not say what it found:\n%s", srv.log())
	}
	if code, _ := postRaw(t, srv.url+"/api/v1/activities", token, activity); code != 503 {
		t.Fatalf("recording once the checkpoint was refused: status %d, want 503", code)
	}
}

// postRaw posts body as JSON and returns the status and the answer as it is.
func postRaw(t *testing.T, url, token string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(answer)
}

// Two PostgreSQL nodes each keep the checkpoint they last saw in their
// own data directory: when the newest activities are deleted with their
// leaves and checkpoints, both stop recording and signing, and a node
// started again refuses to start.
func TestActivitiesRemovedFromPostgresStopEveryNode(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, _ := sharedKey(t)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "nodes", "--scopes", "activities:write"))
	dirs := []string{t.TempDir(), t.TempDir()}
	var nodes []*server
	for _, dir := range dirs {
		nodes = append(nodes, startServerWith(t, []string{"--database-url", dbURL, "--data", dir}, keyEnv))
	}
	acts := make([]map[string]any, 20)
	for i := range acts {
		acts[i] = map[string]any{"activity_system_name": "USER_LOGIN", "operator": "human", "username": fmt.Sprintf("u%d", i)}
	}
	var recorded struct{ IDs []int64 }
	if code := call(t, "POST", nodes[0].url+"/api/v1/activities", token, map[string]any{"activities": acts}, &recorded); code != 201 {
		t.Fatalf("recording: status %d", code)
	}
	last := recorded.IDs[len(recorded.IDs)-1]
	// Both nodes save the checkpoint of the whole log: the one that signed
	// it, and the other when it finds it in the store.
	deadline := time.Now().Add(10 * time.Second)
	for _, dir := range dirs {
		for {
			b, _ := os.ReadFile(filepath.Join(dir, tlog.SavedCheckpointFile))
			if lines := strings.Split(string(b), "\n"); len(lines) > 1 && lines[1] == strconv.FormatInt(last, 10) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds no checkpoint of size %d:\n%s", dir, last, b)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cut := last - 3
	for _, stmt := range []string{
		fmt.Sprintf(`DELETE FROM activities WHERE id > %d`, cut),
		fmt.Sprintf(`UPDATE tiles SET hashes = substring(hashes FROM 1 FOR %d * 32) WHERE level = 0 AND idx = 0`, cut),
		fmt.Sprintf(`DELETE FROM checkpoints WHERE tree_size > %d`, cut),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	conn.Close(ctx)

	for i, node := range nodes {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(node.log(), "activities were removed after they were signed") {
			if time.Now().After(deadline) {
				t.Fatalf("node %d did not refuse the store:\n%s", i+1, node.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
		code, body := postRaw(t, node.url+"/api/v1/activities", token, acts[0])
		if code != 503 || !strings.Contains(body, "activities were removed") {
			t.Fatalf("node %d recorded on the cut log: status %d, %s", i+1, code, body)
		}
	}
	nodes[1].kill()
	said := serveRefusesWith(t, []string{"--database-url", dbURL, "--data", dirs[1]}, keyEnv)
	if want := fmt.Sprintf("(size %d, root ", last); !strings.Contains(said, want) || !strings.Contains(said, "activities were removed") {
		t.Fatalf("node 2 started again said:\n%s\nwant the size %d it saved and that activities were removed", said, last)
	}
}

// verify reads the store and writes nothing to it: the database file and
// its WAL are byte for byte what they were, tampered rows included.
func TestVerifyNeverWrites(t *testing.T) {
	dir := copyLog(t, signedLog(t))
	tamper(t, dir, `UPDATE activities SET username = 'mallory' WHERE id = 17`)
	files := []string{filepath.Join(dir, "auditlog.db"), filepath.Join(dir, "auditlog.db-wal")}
	before := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		before[f] = b
	}
	if _, _, err := cli(t, "", "verify", "--data", dir); err == nil || !strings.Contains(describe(err), "activity 17") {
		t.Fatalf("verify of an edited log: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if !bytes.Equal(b, before[f]) {
			t.Errorf("verify changed %s", f)
		}
	}
	// A directory with no store is not made one.
	empty := t.TempDir()
	_, vkey := sharedKey(t)
	if _, _, err := cli(t, "", "verify", "--data", empty, "--verifier-key", vkey); err == nil || !strings.Contains(describe(err), "no store to read") {
		t.Fatalf("verify of an empty directory: %v; want it to say there is no store", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("verify created %d files in an empty directory", len(entries))
	}
}
