package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/tlog"
)

var verifierKeyLine = regexp.MustCompile(`verifier_key=(\S+)`)

// getText returns the body of a GET with the token, whatever its status.
func getText(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return body
}

// servedSize is the size of the server's latest checkpoint, 0 for none.
func servedSize(t *testing.T, srv *server, token string) int64 {
	t.Helper()
	body := getText(t, srv.url+"/api/v1/checkpoint", token)
	if lines := strings.Split(string(body), "\n"); len(lines) > 1 {
		if n, err := strconv.ParseInt(lines[1], 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// signedSize waits until the server's latest checkpoint covers at least
// size activities and returns its size.
func signedSize(t *testing.T, srv *server, token string, size int64) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if n := servedSize(t, srv, token); n >= size {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of %d activities", size)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits until the server has signed every activity it holds and
// returns the log's size.
func settled(t *testing.T, srv *server, token string) int64 {
	t.Helper()
	var page struct{ Activities []struct{ ID int64 } }
	if code := call(t, "GET", srv.url+"/api/v1/activities?limit=1", token, nil, &page); code != 200 || len(page.Activities) == 0 {
		t.Fatalf("newest activity: %d %+v", code, page)
	}
	return signedSize(t, srv, token, page.Activities[0].ID)
}

// recordEdits records n activities through the API and returns the id of the last.
func recordEdits(t *testing.T, srv *server, token, name string, n int) int64 {
	t.Helper()
	acts := make([]map[string]any, n)
	for i := range acts {
		acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "object_name": fmt.Sprint(name, i)}
	}
	var out struct{ IDs []int64 }
	if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activities": acts}, &out); code != 201 {
		t.Fatalf("record: %d", code)
	}
	return out.IDs[len(out.IDs)-1]
}

// monitorOnce runs `auditlog monitor --once` and returns the ids of the
// activities it printed, and its error.
func monitorOnce(t *testing.T, url, vkey, state, token string) ([]int64, error) {
	t.Helper()
	out, errOut, err := cli(t, "", "monitor", "--once", "--url", url, "--verifier-key", vkey, "--state", state, "--token", token)
	var ids []int64
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var a struct{ ID int64 }
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("the monitor printed %q: %v\n%s", line, err, errOut)
		}
		ids = append(ids, a.ID)
	}
	return ids, err
}

func wantIDs(t *testing.T, got []int64, from, to int64) {
	t.Helper()
	if int64(len(got)) != to-from+1 || (len(got) > 0 && (got[0] != from || got[len(got)-1] != to)) {
		t.Fatalf("the monitor printed activities %v, want %d to %d", got, from, to)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("the monitor printed %d after %d", got[i], got[i-1])
		}
	}
}

func TestMonitorFollowsTheLogAndCatchesForksRollbacksAndEditedEntries(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "demo", "--data", dir, "--count", "300", "--seed", "3")
	srv := startServer(t, dir)
	m := verifierKeyLine.FindStringSubmatch(srv.log())
	if m == nil {
		t.Fatalf("no verifier key in the log:\n%s", srv.log())
	}
	vkey := m[1]
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "monitor", "--scopes", "activities:read,activities:write"))
	state := filepath.Join(t.TempDir(), "monitor.state")

	// The first run reads the whole log; the next only what is new.
	first := settled(t, srv, token)
	ids, err := monitorOnce(t, srv.url, vkey, state, token)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	wantIDs(t, ids, 1, first)
	if ids, err = monitorOnce(t, srv.url, vkey, state, token); err != nil || len(ids) != 0 {
		t.Fatalf("a run with nothing new printed %v, %v", ids, err)
	}
	srv.kill()
	earlier := copyLog(t, dir) // the log as of the first run

	srv = startServer(t, dir)
	recordEdits(t, srv, token, "later", 300)
	second := settled(t, srv, token)
	if ids, err = monitorOnce(t, srv.url, vkey, state, token); err != nil {
		t.Fatalf("second run: %v", err)
	}
	wantIDs(t, ids, first+1, second)
	srv.kill()

	// The log rolled back to the copy: it shrank.
	rolledBack := startServer(t, earlier)
	back := settled(t, rolledBack, token)
	_, err = monitorOnce(t, rolledBack.url, vkey, state, token)
	if err == nil || back >= second || !strings.Contains(err.Error(), fmt.Sprintf("the log shrank: it serves a checkpoint of size %d, after the one of size %d", back, second)) {
		t.Fatalf("a rolled-back log: %v", err)
	}

	// The copy grows another history with the same key and origin: a fork.
	recordEdits(t, rolledBack, token, "other", 400)
	forked := settled(t, rolledBack, token)
	_, err = monitorOnce(t, rolledBack.url, vkey, state, token)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the log forked: its tree of size %d does not extend the one of size %d", forked, second)) {
		t.Fatalf("a forked log: %v", err)
	}

	// An activity edited in the database is served as an entry that does
	// not hash to its tile.
	tamper(t, earlier, `UPDATE activities SET object_name = 'edited' WHERE id = 290`)
	_, err = monitorOnce(t, rolledBack.url, vkey, filepath.Join(t.TempDir(), "fresh.state"), token)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entries that do not match its tiles: entry %d (activity %d) of the tree of size %d", 289, 290, forked)) {
		t.Fatalf("an edited entry: %v", err)
	}

	// Another key of the same name does not vouch for the log.
	skey, err := tlog.GenerateKey(strings.SplitN(vkey, "+", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	ids, err = monitorOnce(t, rolledBack.url, signer.VerifierKey, filepath.Join(t.TempDir(), "s"), token)
	if err == nil || len(ids) != 0 || !strings.Contains(err.Error(), "does not verify with the verifier key") {
		t.Fatalf("a checkpoint under another key: %v, printed %v", err, ids)
	}
}

func TestMonitorFollowsTwoPostgresNodesAsOneLog(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, vkey := sharedKey(t)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "monitor", "--scopes", "activities:read,activities:write"))
	var nodes []*server
	for range 2 {
		nodes = append(nodes, startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv))
	}
	state := filepath.Join(t.TempDir(), "monitor.state")
	var last int64
	for round := range 4 {
		node := nodes[round%2]
		recordEdits(t, node, token, fmt.Sprint("round", round), 100+round*77)
		size := settled(t, node, token)
		// Whichever node it asks, the monitor sees one log that only grows.
		ids, err := monitorOnce(t, nodes[(round+1)%2].url, vkey, state, token)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(ids) > 0 {
			wantIDs(t, ids, last+1, ids[len(ids)-1])
			last = ids[len(ids)-1]
		}
		if last != size {
			t.Fatalf("round %d: the monitor reached activity %d of %d", round, last, size)
		}
	}
}
