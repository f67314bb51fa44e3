package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/postgres/pgtest"
)

// ack is an acknowledged recording: the event ids sent and the ids answered.
type ack struct {
	events []string
	ids    []int64
}

// TestAcknowledgedActivitiesSurviveSIGKILL kills the server with SIGKILL in
// the middle of concurrent ingest, restarts it, and expects every
// acknowledged activity present exactly once under the id it was given.
func TestAcknowledgedActivitiesSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	killDuringIngest(t, []string{"--data", dir}, nil)
}

// TestAcknowledgedActivitiesSurviveSIGKILLOnPostgres is the same on a
// PostgreSQL database.
func TestAcknowledgedActivitiesSurviveSIGKILLOnPostgres(t *testing.T) {
	keyEnv, vkey := sharedKey(t)
	killDuringIngest(t, []string{"--database-url", pgtest.NewDatabase(t), "--data", t.TempDir()}, []string{keyEnv}, "--verifier-key", vkey)
}

// killDuringIngest runs the SIGKILL test on the store the flags name,
// starting servers with env and verifying with verifyArgs.
func killDuringIngest(t *testing.T, storeArgs, env []string, verifyArgs ...string) {
	token := strings.TrimSpace(mustCLI(t, append(append([]string{"token", "create"}, storeArgs...), "--name", "crash", "--scopes", "activities:read,activities:write")...))
	srv := startServerWith(t, storeArgs, env...)

	var (
		mu      sync.Mutex
		acks    []ack
		sent    [][]string // every batch of event ids sent, acknowledged or not
		total   atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		started = time.Now()
	)
	// activity is the activity of an event id, the same at every retry.
	activity := func(event string) map[string]any {
		return map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "event_id": event, "extra": map[string]string{"event": event}}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				n := 1 + rng.IntN(50)
				events := make([]string, n)
				acts := make([]map[string]any, n)
				for i := range acts {
					events[i] = uuid.NewString()
					acts[i] = activity(events[i])
				}
				mu.Lock()
				sent = append(sent, events)
				mu.Unlock()
				body, _ := json.Marshal(map[string]any{"activities": acts})
				req, _ := http.NewRequest("POST", srv.url+"/api/v1/activities", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var out struct{ IDs []int64 }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 201 {
					continue // not acknowledged
				}
				mu.Lock()
				acks = append(acks, ack{events: events, ids: out.IDs})
				mu.Unlock()
				total.Add(int64(n))
			}
		}()
	}
	for total.Load() < 3000 && time.Since(started) < 20*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill() // SIGKILL while the clients are still sending
	stop.Store(true)
	wg.Wait()
	if total.Load() == 0 {
		t.Fatal("no activity was acknowledged before the kill")
	}

	srv = startServerWith(t, storeArgs, env...)
	stored := map[string][]int64{} // event id -> ids of the activities carrying it
	for _, a := range listAll(t, srv.url, token, "activity=EDIT_USER").Activities {
		var extra struct{ Event string }
		if err := json.Unmarshal(a.Extra, &extra); err != nil {
			t.Fatal(err)
		}
		stored[extra.Event] = append(stored[extra.Event], a.ID)
	}
	acked := 0
	for _, a := range acks {
		for i, ev := range a.events {
			acked++
			if got := stored[ev]; len(got) != 1 || got[0] != a.ids[i] {
				t.Fatalf("acknowledged event %s with id %d: stored under ids %v", ev, a.ids[i], got)
			}
		}
	}
	for ev, ids := range stored {
		if len(ids) != 1 {
			t.Fatalf("event %s stored %d times", ev, len(ids))
		}
	}
	t.Logf("%d activities acknowledged before SIGKILL, %d stored after restart", acked, len(stored))

	// Every stored activity has its leaf: the tree verifies against the
	// checkpoints signed before and after the kill.
	if out, errOut, err := cli(t, "", append(append([]string{"verify"}, storeArgs...), verifyArgs...)...); err != nil {
		t.Fatalf("verify after SIGKILL: %v\n%s%s", err, out, errOut)
	}

	// A client that retries every batch, acknowledged or not, records each
	// activity once: event ids make the retry safe.
	for _, events := range sent {
		acts := make([]map[string]any, len(events))
		for i, ev := range events {
			acts[i] = activity(ev)
		}
		if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activities": acts}, nil); code != 201 {
			t.Fatalf("retry: status %d", code)
		}
	}
	retried := listAll(t, srv.url, token, "activity=EDIT_USER").Activities
	want := 0
	for _, events := range sent {
		want += len(events)
	}
	if len(retried) != want {
		t.Fatalf("%d activities after retrying all %d sent, want %d", len(retried), want, want)
	}
}
