package stream_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/postgres"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/stream"
	"github.com/auditlog/auditlog/stream/streamtest"
)

func openSQLite(t *testing.T) auditlog.Store {
	db, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var admin = auditlog.Actor{Operator: auditlog.OperatorHuman, Username: "admin"}

// record records n activities, every third by a human, and returns the
// ids of those by the machine.
func record(t *testing.T, s auditlog.Store, n int) []int64 {
	t.Helper()
	var acts []auditlog.NewActivity
	for i := range n {
		a := auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine, ObjectID: strconv.Itoa(i)}
		if i%3 == 0 {
			a.Operator, a.Username = auditlog.OperatorHuman, "jdoe"
		}
		acts = append(acts, a)
	}
	ids, err := s.RecordActivities(context.Background(), auditlog.TokenRecorder(1), acts)
	if err != nil {
		t.Fatal(err)
	}
	var machine []int64
	for i, id := range ids {
		if i%3 != 0 {
			machine = append(machine, id)
		}
	}
	return machine
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run starts a runner of the store on a node; it stops when the test
// ends or when the returned function is called (the node dies without
// giving its leases back).
func run(t *testing.T, s auditlog.Store, node string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &stream.Runner{Store: s, Node: node, Origin: "auditlog.test", Log: quietLog(),
		Poll: 20 * time.Millisecond, LeaseFor: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	go func() { r.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// settled waits until the stream's cursor is at last (the store moves it
// just after the receiver acknowledged) and returns the stream.
func settled(t *testing.T, s auditlog.Store, id, last int64) *auditlog.Stream {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := s.FindStream(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cursor == last || time.Now().After(deadline) {
			return got
		}
	}
}

func waitFor(t *testing.T, rc *streamtest.WebhookReceiver, want []int64, within time.Duration) {
	t.Helper()
	rc.WaitFor(t, want, within)
}

func TestAWebhookStreamDeliversEveryMatchInOrderThroughFailures(t *testing.T) {
	s := openSQLite(t)
	ctx := context.Background()
	before := record(t, s, 30)
	secret := auditlog.NewWebhookSecret()
	rc := streamtest.NewWebhookReceiver(t, secret)
	st, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "siem", Type: "webhook", URL: rc.URL + "/audit",
		Filter: "operator=machine", Start: "beginning", BatchSize: 7, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "node-a")
	ids := append(before, record(t, s, 40)...)
	waitFor(t, rc, ids, 10*time.Second)

	// The receiver fails for a while, then hangs once: every retry of a
	// delivery carries the same id and activities, and nothing is skipped.
	rc.Fail(5)
	rc.Hang()
	more := record(t, s, 50)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _ := s.FindStream(ctx, st.ID)
		if got.State() == auditlog.StreamFailing && strings.Contains(got.LastError, "500") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream's state while its destination fails: %+v (%s)", got, got.State())
		}
	}
	ids = append(ids, more...)
	waitFor(t, rc, ids, 20*time.Second)
	if retried := rc.MostAttempts(); retried < 2 {
		t.Fatalf("no delivery was attempted twice (%d at most)", retried)
	}
	want := ids
	got := settled(t, s, st.ID, want[len(want)-1])
	if got.Cursor != want[len(want)-1] || got.Delivered != int64(len(want)) || got.State() != auditlog.StreamActive {
		t.Fatalf("after delivering everything: %+v (%s), want cursor %d, %d delivered", got, got.State(), want[len(want)-1], len(want))
	}

	// Paused, nothing goes; resumed, the rest; replayed, again from an id.
	if _, err := s.PauseStream(ctx, admin, st.ID, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the worker sees the pause
	paused := record(t, s, 9)
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.Delivered()); n != len(want) {
		t.Fatalf("a paused stream delivered %d activities", n-len(want))
	}
	now, _ := s.FindStream(ctx, st.ID)
	backlog, err := stream.Lag(ctx, s, now)
	if err != nil || backlog.Activities != int64(len(paused)) || backlog.Seconds(time.Now()) < 0.2 || backlog.Seconds(time.Now()) > 10 {
		t.Fatalf("a paused stream's backlog: %+v %v, want %d activities, the oldest 0.2 s old or more", backlog, err, len(paused))
	}
	if _, err := s.PauseStream(ctx, admin, st.ID, false); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, paused...)
	waitFor(t, rc, ids, 10*time.Second)
	from := ids[10]
	if _, err := s.ReplayStream(ctx, admin, st.ID, from); err != nil {
		t.Fatal(err)
	}
	again := slices.Concat(ids, ids[10:])
	waitFor(t, rc, again, 10*time.Second)
}

func TestAnotherPostgresNodeTakesOverAStreamWhoseNodeDied(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open := func() auditlog.Store {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Builtin: catalog.Builtin()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	ctx := context.Background()
	secret := auditlog.NewWebhookSecret()
	rc := streamtest.NewWebhookReceiver(t, secret)
	st, err := a.CreateStream(ctx, admin, auditlog.NewStream{Name: "siem", Type: "webhook", URL: rc.URL, Filter: "operator=machine",
		Start: "beginning", BatchSize: 10, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	stopA := run(t, a, "node-a")
	ids := record(t, a, 25)
	waitFor(t, rc, ids, 10*time.Second)
	settled(t, a, st.ID, ids[len(ids)-1])
	run(t, b, "node-b") // B waits: A holds the lease

	// A dies holding the lease: B delivers once the lease runs out (2 s).
	stopA()
	start := time.Now()
	ids = append(ids, record(t, b, 24)...)
	waitFor(t, rc, ids, 10*time.Second)
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("node B took %v to take over", took)
	}
	got := settled(t, b, st.ID, ids[len(ids)-1])
	if want := ids; got.Cursor != want[len(want)-1] || got.Delivered != int64(len(want)) {
		t.Fatalf("after the takeover: %+v", got)
	}
}

// A stream's filter may be a search: it delivers what the search selects,
// and its lag counts the same; a search naming no activity type is
// refused when the stream is created.
func TestAStreamFilteredByASearchDeliversWhatItSelects(t *testing.T) {
	s := openSQLite(t)
	ctx := context.Background()
	var acts []auditlog.NewActivity
	var want []int64
	for i := range 30 {
		a := auditlog.NewActivity{SystemName: "EDIT_PERMISSION_GROUP", Operator: auditlog.OperatorMachine, ObjectType: "PermissionGroup",
			ObjectID: strconv.Itoa(i), ObjectName: []string{"Keyers", "Medical Records", "Émilie's team"}[i%3],
			Changes: []auditlog.Change{{ColumnName: "permissions", OldValue: "read", NewValue: []string{"read,write", "none"}[i%2]}}}
		acts = append(acts, a)
	}
	ids, err := s.RecordActivities(ctx, auditlog.TokenRecorder(1), acts)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if i%3 != 1 && i%2 == 0 { // not Medical Records, and made writable
			want = append(want, id)
		}
	}
	secret := auditlog.NewWebhookSecret()
	_, err = s.CreateStream(ctx, admin, auditlog.NewStream{Name: "typo", Type: "webhook", URL: "https://siem.example/hook",
		Filter: "q=activity:EDIT_PERMISSION_GRUOP", Secret: secret})
	var e *auditlog.Error
	if !errors.As(err, &e) || e.Field != "filter" || !strings.Contains(e.Message, "activity:EDIT_PERMISSION_GRUOP") {
		t.Fatalf("a stream whose search names no activity type: %v", err)
	}
	rc := streamtest.NewWebhookReceiver(t, secret)
	st, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "writable", Type: "webhook", URL: rc.URL + "/audit",
		Filter: url.Values{"q": {`activity:EDIT_PERM* column:permissions new:"read,write" -object:medical`}}.Encode(), Start: "beginning", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	lag, err := stream.Lag(ctx, s, st)
	if err != nil || lag.Activities != int64(len(want)) {
		t.Fatalf("the stream's lag before delivery: %+v %v, want %d", lag, err, len(want))
	}
	run(t, s, "node-a")
	waitFor(t, rc, want, 10*time.Second)
}
