package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

var streamTests = []struct {
	name string
	fn   func(t *testing.T, open Opener)
}{
	{"streams are created, paused, replayed and deleted, each change recorded", testStreamChanges},
	{"a bad stream is refused with the field named, and records nothing", testStreamValidation},
	{"one node at a time holds a stream's lease, and only the holder moves its cursor", testStreamLeases},
}

func newest(t *testing.T, s auditlog.Store) auditlog.Activity {
	t.Helper()
	acts, _, err := s.FindActivities(context.Background(), auditlog.Filter{Limit: 1})
	if err != nil || len(acts) == 0 {
		t.Fatalf("the newest activity: %v %v", acts, err)
	}
	return acts[0]
}

func testStreamChanges(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := bootstrapped(t, open, clock)
	ctx := context.Background()
	ids := record(t, s, machine("USER_LOGIN"), machine("USER_LOGIN"))
	secret := auditlog.NewWebhookSecret()
	st, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "siem", Type: "webhook", URL: "https://siem.example/hook",
		Filter: "operator=human", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if st.Cursor != ids[1] || st.Format != "json" || st.BatchSize != 100 || st.State() != auditlog.StreamActive || st.Filter != "operator=human" {
		t.Fatalf("created %+v: want the cursor at the newest activity %d (start now), json, 100", st, ids[1])
	}
	created := newest(t, s)
	wantActivity(t, created, "CREATE_STREAM", admin, auditlog.ObjectTypeStream, "siem", nil)
	for _, c := range created.Changes {
		if strings.Contains(c.NewValue, strings.TrimPrefix(secret, "whsec_")) || c.ColumnName == "secret" && c.NewValue != auditlog.Redacted {
			t.Fatalf("the creation's activity shows the secret: %+v", c)
		}
	}
	if got, err := s.StreamSecret(ctx, st.ID); err != nil || got != secret {
		t.Fatalf("the stream's secret: %q %v", got, err)
	}
	if _, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "siem", Type: "webhook", URL: "https://other.example/", Secret: secret}); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("a second stream named siem: %v", err)
	}
	from, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "all", Type: "nats", URL: "nats://127.0.0.1:4222", Start: "beginning"})
	if err != nil || from.Cursor != 0 || from.Subject != "auditlog" {
		t.Fatalf("a stream from the beginning: %+v %v", from, err)
	}
	at, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "from2", Type: "syslog", URL: "tls://siem.example:6514", Start: "2", BatchSize: 7})
	if err != nil || at.Cursor != 1 || at.BatchSize != 7 {
		t.Fatalf("a stream from activity 2: %+v %v", at, err)
	}

	paused, err := s.PauseStream(ctx, admin, st.ID, true)
	if err != nil || paused.State() != auditlog.StreamPaused {
		t.Fatalf("pause: %+v %v", paused, err)
	}
	wantActivity(t, newest(t, s), "EDIT_STREAM", admin, auditlog.ObjectTypeStream, "siem", []auditlog.Change{{ColumnName: "state", OldValue: "active", NewValue: "paused"}})
	if _, err := s.PauseStream(ctx, admin, st.ID, true); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("pausing a paused stream: %v", err)
	}
	if resumed, err := s.PauseStream(ctx, admin, st.ID, false); err != nil || resumed.State() != auditlog.StreamActive {
		t.Fatalf("resume: %+v %v", resumed, err)
	}
	replayed, err := s.ReplayStream(ctx, admin, st.ID, 1)
	if err != nil || replayed.Cursor != 0 {
		t.Fatalf("replay from 1: %+v %v", replayed, err)
	}
	wantActivity(t, newest(t, s), "REPLAY_STREAM", admin, auditlog.ObjectTypeStream, "siem",
		[]auditlog.Change{{ColumnName: "cursor", OldValue: strconv.FormatInt(ids[1], 10), NewValue: "0"}})
	if _, err := s.ReplayStream(ctx, admin, st.ID, 0); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Fatalf("replay from 0: %v", err)
	}
	if err := s.DeleteStream(ctx, admin, st.ID); err != nil {
		t.Fatal(err)
	}
	wantActivity(t, newest(t, s), "DELETE_STREAM", admin, auditlog.ObjectTypeStream, "siem", nil)
	if _, err := s.FindStream(ctx, st.ID); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("a deleted stream: %v", err)
	}
	if err := s.DeleteStream(ctx, admin, st.ID); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("deleting it again: %v", err)
	}
	streams, err := s.Streams(ctx)
	if err != nil || len(streams) != 2 || streams[0].Name != "all" || streams[1].Name != "from2" {
		t.Fatalf("the streams left: %+v %v", streams, err)
	}
}

func testStreamValidation(t *testing.T, open Opener) {
	s := bootstrapped(t, open, NewClock(base))
	ctx := context.Background()
	before := len(all(t, s))
	secret := auditlog.NewWebhookSecret()
	for _, c := range []struct {
		ns    auditlog.NewStream
		field string
	}{
		{auditlog.NewStream{Type: "webhook", URL: "https://x.example/", Secret: secret}, "name"},
		{auditlog.NewStream{Name: "a", Type: "kafka", URL: "https://x.example/"}, "type"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "ftp://x.example/", Secret: secret}, "url"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "ttp://x.example/", Secret: secret}, "url"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://user:pw@x.example/", Secret: secret}, "url"},
		{auditlog.NewStream{Name: "a", Type: "syslog", URL: "https://x.example/"}, "url"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/"}, "secret"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: "whsec_c2hvcnQ="}, "secret"},
		{auditlog.NewStream{Name: "a", Type: "splunk_hec", URL: "https://x.example:8088"}, "secret"},
		{auditlog.NewStream{Name: "a", Type: "nats", URL: "nats://x:4222", Secret: "x"}, "secret"},
		{auditlog.NewStream{Name: "a", Type: "syslog", URL: "tcp://x:514", Subject: "s"}, "subject"},
		{auditlog.NewStream{Name: "a", Type: "nats", URL: "nats://x:4222", Subject: "audit.*"}, "subject"},
		{auditlog.NewStream{Name: "a", Type: "syslog", URL: "tls://x:6514", CAPEM: "not a certificate"}, "ca_pem"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, Format: "xml"}, "format"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, BatchSize: 1001}, "batch_size"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, Start: "yesterday"}, "start"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, Filter: "operator=robot"}, "filter"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, Filter: "colour=red"}, "filter"},
		{auditlog.NewStream{Name: "a", Type: "webhook", URL: "https://x.example/", Secret: secret, Filter: "limit=5"}, "filter"},
	} {
		_, err := s.CreateStream(ctx, admin, c.ns)
		var e *auditlog.Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%+v: %v, want an error naming %s", c.ns, err, c.field)
		}
	}
	if got := len(all(t, s)); got != before {
		t.Fatalf("refused streams recorded %d activities", got-before)
	}
	if streams, _ := s.Streams(ctx); len(streams) != 0 {
		t.Fatalf("refused streams were stored: %+v", streams)
	}
}

func testStreamLeases(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := bootstrapped(t, open, clock)
	ctx := context.Background()
	st, err := s.CreateStream(ctx, admin, auditlog.NewStream{Name: "lease", Type: "nats", URL: "nats://x:4222", Start: "beginning"})
	if err != nil {
		t.Fatal(err)
	}
	lease := func(node string, d time.Duration) bool {
		t.Helper()
		held, err := s.LeaseStream(ctx, st.ID, node, clock.Now().Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if !lease("a", 10*time.Second) || lease("b", 10*time.Second) || !lease("a", 10*time.Second) {
		t.Fatal("a lease is held by its first node only, and renewed by it")
	}
	moved := func(node string, from, to int64) bool {
		t.Helper()
		ok, err := s.StreamDelivered(ctx, st.ID, node, from, to, int(to-from), clock.Now().Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if moved("b", 0, 5) || !moved("a", 0, 5) || moved("a", 0, 9) {
		t.Fatal("only the holder moves the cursor, and only from where it is")
	}
	if err := s.StreamFailed(ctx, st.ID, "a", "POST https://x: 500 Internal Server Error"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FindStream(ctx, st.ID)
	if got.Cursor != 5 || got.Delivered != 5 || got.State() != auditlog.StreamFailing || !strings.Contains(got.LastError, "500") {
		t.Fatalf("after a delivery and a failure: %+v (state %s)", got, got.State())
	}
	clock.Set(clock.Now().Add(11 * time.Second)) // a's lease runs out
	if !lease("b", 10*time.Second) || lease("a", 10*time.Second) {
		t.Fatal("after the lease ran out, another node takes it, and the first no longer holds it")
	}
	if moved("a", 5, 8) || !moved("b", 5, 8) {
		t.Fatal("a node whose lease ran out moves no cursor")
	}
	got, _ = s.FindStream(ctx, st.ID)
	if got.Cursor != 8 || got.Delivered != 8 || got.State() != auditlog.StreamActive || got.LastDeliveryAt.IsZero() {
		t.Fatalf("after the next delivery: %+v (state %s)", got, got.State())
	}
	// A replay moves the cursor under the holder: its delivery in flight
	// does not move it on.
	if _, err := s.ReplayStream(ctx, admin, st.ID, 2); err != nil {
		t.Fatal(err)
	}
	if moved("b", 8, 12) || !moved("b", 1, 4) {
		t.Fatal("a delivery begun before a replay moved the cursor")
	}
}
