package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
)

// checkExactlyOnce fails unless every object id 0..n-1 of objectType was
// recorded exactly once.
func checkExactlyOnce(t *testing.T, c *client.Client, objectType string, n int) {
	t.Helper()
	counts := objectCounts(t, c, objectType)
	var missing, twice []string
	for i := range n {
		switch counts[strconv.Itoa(i)] {
		case 1:
		case 0:
			missing = append(missing, strconv.Itoa(i))
		default:
			twice = append(twice, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 || len(twice) > 0 || len(counts) != n {
		t.Fatalf("of %d activities, %d recorded: %d missing (%.10v), %d more than once (%.10v)", n, len(counts), len(missing), missing, len(twice), twice)
	}
}

func TestAnEmitterWithASpoolDeliversExactlyOnceAcrossServerKills(t *testing.T) {
	srv := servicetest.Start(t)
	c := newClient(t, srv, srv.Token("activities:read,activities:write"))
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, SpoolDir: t.TempDir(), BatchSize: 200, MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Producer p emits activities p, p+4, p+8, ... ten at a time.
			for start := p; start < n; start += 40 {
				var batch []client.Activity
				for i := start; i < n && i < start+40; i += 4 {
					batch = append(batch, edit("Spooled", i))
				}
				if err := e.Emit(context.Background(), batch...); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	// Kill the server twice while the emitter sends, and bring it back.
	for round := range 2 {
		for e.Stats().Sent < uint64((round+1)*n/4) {
			time.Sleep(5 * time.Millisecond)
		}
		srv.Kill()
		time.Sleep(500 * time.Millisecond)
		srv.Restart()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Sent != n || st.Queued != 0 || st.Refused != 0 || st.Retried == 0 {
		t.Fatalf("stats after the kills: %+v; want %d sent, some retried", st, n)
	}
	checkExactlyOnce(t, c, "Spooled", n)
}

const producerEnv = "AUDITLOG_CLIENT_TEST_PRODUCER"

// runProducer is a producer process: it emits activities 0..n-1 in
// batches of ten through a spooled emitter and prints the count after
// each Emit returns, until it is killed.
func runProducer() {
	cfg := strings.Split(os.Getenv(producerEnv), "\n") // url, token, spool, n
	c, err := client.New(client.Config{URL: cfg[0], Token: cfg[1]})
	if err != nil {
		panic(err)
	}
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, SpoolDir: cfg[2], BatchSize: 100})
	if err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(cfg[3])
	for i := 0; i < n; i += 10 {
		batch := make([]client.Activity, 0, 10)
		for j := i; j < i+10; j++ {
			batch = append(batch, edit("Produced", j))
		}
		if err := e.Emit(context.Background(), batch...); err != nil {
			panic(err)
		}
		fmt.Println(i + 10)
	}
	select {} // wait to be killed
}

func TestAProducerKilledAfterEmitLosesNothing(t *testing.T) {
	srv := servicetest.Start(t)
	token := srv.Token("activities:read,activities:write")
	spool := t.TempDir()
	const n = 6000
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), producerEnv+"="+strings.Join([]string{srv.URL(), token, spool, strconv.Itoa(n)}, "\n"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it with SIGKILL once Emit has returned for 3,000 activities.
	sc := bufio.NewScanner(out)
	emitted := 0
	for sc.Scan() {
		emitted, _ = strconv.Atoi(sc.Text())
		if emitted >= n/2 {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if emitted < n/2 {
		t.Fatalf("the producer stopped after emitting %d", emitted)
	}

	// What it emitted and did not deliver is in the spool; a new emitter
	// on it delivers it, and nothing twice.
	c := newClient(t, srv, token)
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	counts := objectCounts(t, c, "Produced")
	for i := range emitted {
		if counts[strconv.Itoa(i)] != 1 {
			t.Fatalf("activity %d of the %d emitted before the kill was recorded %d times", i, emitted, counts[strconv.Itoa(i)])
		}
	}
	for id, k := range counts {
		if k != 1 {
			t.Fatalf("activity %s was recorded %d times", id, k)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "segment-*")); len(left) != 0 {
		t.Fatalf("the spool still holds %v after everything was delivered", left)
	}
}

func TestACorruptedSpoolIsReportedAndItsIntactRecordsDelivered(t *testing.T) {
	spool := t.TempDir()
	// The server is down: the emitter keeps everything in the spool.
	down, _ := client.New(client.Config{URL: "http://127.0.0.1:1"})
	e, err := client.NewEmitter(client.EmitterConfig{Client: down, SpoolDir: spool, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		if err := e.Emit(context.Background(), edit("Spool", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err == nil || !strings.Contains(err.Error(), "100 activities were not delivered") || !strings.Contains(err.Error(), "stay in the spool") {
		t.Fatalf("Close with the server down: %v", err)
	}
	// Close unlocks the spool; while an emitter holds it, no other can.
	again, err := client.NewEmitter(client.EmitterConfig{Client: down, SpoolDir: spool, MinBackoff: time.Hour})
	if err != nil {
		t.Fatalf("a new emitter after Close: %v", err)
	}
	if _, err := client.NewEmitter(client.EmitterConfig{Client: down, SpoolDir: spool}); err == nil || !strings.Contains(err.Error(), "in use by another emitter") {
		t.Fatalf("a second emitter on a spool in use: %v", err)
	}
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if err := again.Close(cancelled); err == nil || !strings.Contains(err.Error(), "100 activities") {
		t.Fatalf("Close: %v", err)
	}

	// One byte of activity 40 flips, and a crash tore a record at the end.
	segments, _ := filepath.Glob(filepath.Join(spool, "segment-*.log"))
	if len(segments) != 1 {
		t.Fatalf("segments %v", segments)
	}
	data, err := os.ReadFile(segments[0])
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(data), `"object_id":"40"`)
	data[at+13] = '9' // "40" becomes "90": the record no longer checks
	data = append(data, "ALS1\x00\x00\x01\x00torn"...)
	if err := os.WriteFile(segments[0], data, 0o600); err != nil {
		t.Fatal(err)
	}

	srv := servicetest.Start(t)
	c := newClient(t, srv, srv.Token("activities:read,activities:write"))
	var reported []string
	var mu sync.Mutex
	e, err = client.NewEmitter(client.EmitterConfig{Client: c, SpoolDir: spool, OnSpoolError: func(err error) {
		mu.Lock()
		reported = append(reported, err.Error())
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 || !strings.Contains(reported[0], segments[0]) || !strings.Contains(reported[0], "does not check") || e.Stats().SpoolErrors != 2 {
		t.Fatalf("reported %q, stats %+v", reported, e.Stats())
	}
	counts := objectCounts(t, c, "Spool")
	if len(counts) != n-1 || counts["40"] != 0 || counts["39"] != 1 || counts["41"] != 1 || counts["99"] != 1 {
		t.Fatalf("delivered %d of the %d intact records: %v", len(counts), n-1, counts)
	}
	if _, err := os.Stat(segments[0] + ".corrupt"); err != nil {
		t.Fatalf("the corrupted segment is not kept: %v", err)
	}
}

func TestARefusedActivityNeverBlocksTheOthers(t *testing.T) {
	srv := servicetest.Start(t)
	c := newClient(t, srv, srv.Token("activities:read,activities:write"))
	var refused []client.Activity
	var refusal error
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, BatchSize: 10, OnRefused: func(a client.Activity, err error) {
		refused = append(refused, a)
		refusal = err
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		a := edit("Mixed", i)
		if i == 14 {
			a.Operator = client.Human // without a username
		}
		if err := e.Emit(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ae *client.Error
	if len(refused) != 1 || refused[0].ObjectID != "14" || refused[0].EventID == "" || !errors.As(refusal, &ae) || ae.StatusCode != 400 || !strings.HasSuffix(ae.Field, ".username") {
		t.Fatalf("refused %+v: %v", refused, refusal)
	}
	counts := objectCounts(t, c, "Mixed")
	if len(counts) != 29 || counts["14"] != 0 || counts["15"] != 1 {
		t.Fatalf("delivered %v", counts)
	}
	if st := e.Stats(); st.Sent != 29 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTheEmitterHonoursRetryAfter(t *testing.T) {
	srv := servicetest.Start(t)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var posts atomic.Int32
	var times []time.Time
	var mu sync.Mutex
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			if posts.Add(1) <= 2 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":{"code":"rate_limited","message":"slow down"}}`, http.StatusTooManyRequests)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, _ := client.New(client.Config{URL: front.URL, Token: srv.Token("activities:read,activities:write")})
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.Emit(context.Background(), edit("Throttled", i))
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 3 || times[1].Sub(times[0]) < 900*time.Millisecond || times[2].Sub(times[1]) < 900*time.Millisecond {
		t.Fatalf("%d attempts at %v: want 3, a second apart as Retry-After asked", len(times), times)
	}
	if st := e.Stats(); st.Retried != 10 || st.Sent != 5 || !strings.Contains(st.LastError, "429") {
		t.Fatalf("stats %+v", st)
	}
	checkExactlyOnce(t, newClient(t, srv, srv.Token("activities:read")), "Throttled", 5)
}

func TestEmitBlocksAtTheMemoryBound(t *testing.T) {
	down, _ := client.New(client.Config{URL: "http://127.0.0.1:1"})
	const bound = 64 << 10
	e, err := client.NewEmitter(client.EmitterConfig{Client: down, MaxQueuedBytes: bound, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	emitted := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := e.Emit(ctx, edit("Bounded", emitted))
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "queue is full") {
				t.Fatalf("Emit at the bound: %v", err)
			}
			break
		}
		emitted++
	}
	if st := e.Stats(); st.QueuedBytes > bound || st.QueuedBytes < bound*9/10 || st.Queued != int64(emitted) {
		t.Fatalf("the queue holds %+v at a bound of %d, after %d emitted", st, bound, emitted)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d activities were not delivered", emitted)) || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Emit(context.Background(), edit("Bounded", 0)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}
