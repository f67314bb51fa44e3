package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/stream/streamtest"
)

// TestAStreamResumesAtItsCursorAfterTheServerIsKilled runs a webhook
// stream through `auditlog serve`, kills the server with SIGKILL while it
// delivers, and starts it again: every activity arrives, in order.
func TestAStreamResumesAtItsCursorAfterTheServerIsKilled(t *testing.T) {
	dir := t.TempDir()
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--name", "ops", "--scopes", "activities:read,activities:write,admin"))
	srv := startServerWith(t, []string{"--data", dir})
	secret := auditlog.NewWebhookSecret()
	rc := streamtest.NewWebhookReceiver(t, secret)
	var created struct {
		Stream struct{ ID int64 }
		Secret string
	}
	if code := call(t, "POST", srv.url+"/api/v1/streams", token, map[string]any{"name": "siem", "type": "webhook", "url": rc.URL,
		"filter": "activity=EDIT_USER&operator=machine", "start": "beginning", "batch_size": 25, "secret": secret}, &created); code != 201 || created.Secret != secret {
		t.Fatalf("create the stream: %d %+v", code, created)
	}

	var ids []int64
	record := func(srv *server, round int) {
		acts := make([]map[string]any, 200)
		for i := range acts {
			acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "object_name": fmt.Sprint("round ", round, " #", i)}
		}
		var out struct{ IDs []int64 }
		if code := call(t, "POST", srv.url+"/api/v1/activities", token, map[string]any{"activities": acts}, &out); code != 201 {
			t.Fatalf("record: %d", code)
		}
		ids = append(ids, out.IDs...)
	}
	for round := range 5 {
		record(srv, round)
	}
	// Killed while it delivers (the receiver is slowed by failures).
	rc.Fail(3)
	for deadline := time.Now().Add(10 * time.Second); len(rc.Delivered()) < 100; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d before the kill", len(rc.Delivered()))
		}
	}
	srv.kill()
	srv = startServerWith(t, []string{"--data", dir})
	record(srv, 5)

	// Every activity arrives (once the killed node's lease, 15 s, has run
	// out); a delivery the kill interrupted may arrive again (at least
	// once), but the first arrivals are in id order.
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := firstArrivals(rc.Delivered())
		if len(got) == len(ids) {
			for i := range got {
				if got[i] != ids[i] {
					t.Fatalf("arrival %d is activity %d, want %d", i, got[i], ids[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d activities arrived\n%s", len(got), len(ids), srv.log())
		}
	}

	// Its health, in the API and the metrics.
	var st struct {
		Stream struct {
			State     string
			Cursor    int64
			Lag       int64
			Delivered int64
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		call(t, "GET", fmt.Sprintf("%s/api/v1/streams/%d", srv.url, created.Stream.ID), token, nil, &st)
		if st.Stream.Cursor == ids[len(ids)-1] || time.Now().After(deadline) {
			break
		}
	}
	if st.Stream.Cursor != ids[len(ids)-1] || st.Stream.Lag != 0 || st.Stream.State != "active" || st.Stream.Delivered < int64(len(ids)) {
		t.Fatalf("the stream after delivering everything: %+v", st.Stream)
	}
	metrics := string(getText(t, srv.url+"/metrics", token))
	if !regexp.MustCompile(`auditlog_stream_lag\{stream="siem"\} 0\b`).MatchString(metrics) ||
		!strings.Contains(metrics, `auditlog_stream_failing{stream="siem"} 0`) {
		t.Fatalf("the metrics lack the stream's health:\n%s", metrics)
	}
	// Creating the stream was recorded, its secret redacted.
	list := string(mustCLI(t, "stream", "list", "--data", dir))
	if !strings.Contains(list, "siem") || strings.Contains(list, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("stream list:\n%s", list)
	}
}

// firstArrivals is each id at its first arrival.
func firstArrivals(ids []int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// TestAnotherNodeTakesOverTheStreamOfANodeKilledWithItsLease runs two
// `auditlog serve` nodes on one PostgreSQL database, kills with SIGKILL
// the one that holds the stream's lease, and expects the other to deliver
// the rest once the lease has run out.
func TestAnotherNodeTakesOverTheStreamOfANodeKilledWithItsLease(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	keyEnv, _ := sharedKey(t)
	token := strings.TrimSpace(mustCLI(t, "token", "create", "--database-url", dbURL, "--name", "ops", "--scopes", "activities:read,activities:write,admin"))
	nodes := []*server{
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
		startServerWith(t, []string{"--database-url", dbURL, "--data", t.TempDir()}, keyEnv),
	}
	secret := auditlog.NewWebhookSecret()
	rc := streamtest.NewWebhookReceiver(t, secret)
	if code := call(t, "POST", nodes[0].url+"/api/v1/streams", token, map[string]any{"name": "siem", "type": "webhook", "url": rc.URL,
		"filter": "activity=EDIT_USER&operator=machine", "start": "beginning", "batch_size": 20, "secret": secret}, nil); code != 201 {
		t.Fatalf("create the stream: %d", code)
	}
	var ids []int64
	record := func(node *server) {
		acts := make([]map[string]any, 100)
		for i := range acts {
			acts[i] = map[string]any{"activity_system_name": "EDIT_USER", "operator": "machine", "object_name": fmt.Sprint("#", i)}
		}
		var out struct{ IDs []int64 }
		if code := call(t, "POST", node.url+"/api/v1/activities", token, map[string]any{"activities": acts}, &out); code != 201 {
			t.Fatalf("record: %d", code)
		}
		ids = append(ids, out.IDs...)
	}
	record(nodes[1])
	rc.WaitFor(t, ids, 20*time.Second)

	// The node named in the lease (host/pid/random) is killed.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var holder string
	if err := conn.QueryRow(context.Background(), `SELECT lease_node FROM streams`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	alive := -1
	for i, n := range nodes {
		if strings.Contains(holder, fmt.Sprintf("/%d/", n.cmd.Process.Pid)) {
			n.kill()
			alive = 1 - i
		}
	}
	if alive < 0 {
		t.Fatalf("no node holds the lease %q", holder)
	}
	record(nodes[alive])
	start := time.Now()
	for deadline := start.Add(40 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got := firstArrivals(rc.Delivered()); slices.Equal(got, ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d activities arrived after the node holding the lease died\n%s", len(firstArrivals(rc.Delivered())), len(ids), nodes[alive].log())
		}
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the other node took %v to take the stream over (the lease is 15 s)", took)
	}
}
