package stream

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testNATSURL is a NATS server with JetStream: the machine's (or the one
// AUDITLOG_TEST_NATS_URL names), or else one that TestMain starts on a free
// port, from Debian's nats-server, which make test installs when missing.
var testNATSURL = "nats://127.0.0.1:4222"

func TestMain(m *testing.M) {
	if u := os.Getenv("AUDITLOG_TEST_NATS_URL"); u != "" {
		testNATSURL = u
	}
	stop := ensureNATS()
	code := m.Run()
	stop()
	os.Exit(code)
}

// ensureNATS starts a NATS server with JetStream when testNATSURL has
// none, and returns what stops it. Without a nats-server binary it starts
// nothing: the NATS tests then fail in CI and skip elsewhere.
func ensureNATS() (stop func()) {
	if hasJetStream(testNATSURL) {
		return func() {}
	}
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin = "/usr/sbin/nats-server"; !fileExists(bin) {
			return func() {}
		}
	}
	dir, err := os.MkdirTemp("", "auditlog-nats")
	if err != nil {
		return func() {}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return func() {}
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", port, "-sd", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return func() {}
	}
	url := "nats://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); !hasJetStream(url) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	testNATSURL = url
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
}

// hasJetStream reports whether a NATS server with JetStream answers at url.
func hasJetStream(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.MaxReconnects(0))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// natsStream creates a JetStream stream of its own for the test, capturing
// the subjects under the prefix it returns; it is deleted when the test
// ends.
func natsStream(t *testing.T) (jetstream.Stream, string) {
	t.Helper()
	nc, err := nats.Connect(testNATSURL, nats.Timeout(peerTimeout))
	if err != nil {
		requirePeer(t, "the NATS server at "+testNATSURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name, prefix := "auditlog_test_"+rand.Text(), "auditlogtest."+rand.Text()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{prefix + ".>"}, Storage: jetstream.MemoryStorage, Duplicates: time.Minute,
	})
	if err != nil {
		requirePeer(t, "JetStream on "+testNATSURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		defer cancel()
		js.DeleteStream(ctx, name)
	})
	return s, prefix
}

// openTestNATS opens a nats destination, closed when the test ends.
func openTestNATS(t *testing.T, cfg Config) Destination {
	t.Helper()
	cfg.Type = TypeNATS
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// natsMessages reads the n messages of s in order and checks that s holds
// no more.
func natsMessages(t *testing.T, s jetstream.Stream, n int) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(peerTimeout))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n || info.State.Msgs != uint64(n) {
		t.Fatalf("read %d messages of the %d in the stream, want %d", len(msgs), info.State.Msgs, n)
	}
	return msgs
}

func TestNATSDeliver(t *testing.T) {
	t.Parallel()
	s, prefix := natsStream(t)
	origin := "auditlog.test/" + t.Name()
	dest := openTestNATS(t, Config{URL: testNATSURL, Subject: prefix, Origin: origin})
	ds := []Delivery{testDelivery(t, 1), testDelivery(t, 4)}
	// Each delivered twice, as the runner retries one whose acks it missed.
	if err := deliverWithin(t, dest, ds[0], ds[0], ds[1], ds[1], ds[0]); err != nil {
		t.Fatal(err)
	}
	msgs := natsMessages(t, s, 6)
	for i, m := range msgs {
		d := ds[i/3]
		a := d.Activities[i%3]
		if want := prefix + "." + a.SystemName; m.Subject() != want {
			t.Errorf("message %d: subject %s, want %s", i, m.Subject(), want)
		}
		if want := origin + "/" + strconv.FormatInt(a.ID, 10); m.Headers().Get("Nats-Msg-Id") != want {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", i, m.Headers().Get("Nats-Msg-Id"), want)
		}
		if string(m.Data()) != string(d.Payloads[i%3]) {
			t.Errorf("message %d: data %s, want %s", i, m.Data(), d.Payloads[i%3])
		}
	}
}

func TestNATSDefaultSubject(t *testing.T) {
	dest := openTestNATS(t, Config{URL: testNATSURL, Origin: "o"})
	a := testDelivery(t, 1).Activities[1]
	if got := dest.(*natsDestination).subject(a); got != "auditlog.LOGIN_FAILED" {
		t.Errorf("subject %s, want auditlog.LOGIN_FAILED", got)
	}
}

func TestNATSOpenRejects(t *testing.T) {
	checkOpenRejects(t, TypeNATS,
		Config{URL: "tcp://127.0.0.1:4222"},
		Config{URL: "127.0.0.1:4222"},
		Config{URL: "nats://"},
		Config{URL: testNATSURL, Subject: "audit.*"},
		Config{URL: testNATSURL, Subject: "audit."},
		Config{URL: testNATSURL, Subject: "audit log"},
	)
}

// TestNATSNoStream checks that activities no stream captures are not
// taken as delivered.
func TestNATSNoStream(t *testing.T) {
	t.Parallel()
	_, prefix := natsStream(t) // the server is there, the subjects captured are others
	dest := openTestNATS(t, Config{URL: testNATSURL, Subject: prefix + "x", Origin: "o"})
	err := deliverWithin(t, dest, testDelivery(t, 1))
	if err == nil || !strings.Contains(err.Error(), "nats destination "+testNATSURL+": activity 1 on "+prefix+"x.LOGIN not acknowledged") {
		t.Fatalf("delivering to subjects no stream captures: %v, want an unacknowledged activity", err)
	}
}

func TestNATSClosedPort(t *testing.T) {
	t.Parallel()
	url := "nats://" + closedPort(t)
	dest := openTestNATS(t, Config{URL: url, Origin: "o"})
	start := time.Now()
	err := deliverWithin(t, dest, testDelivery(t, 1))
	if err == nil || !strings.Contains(err.Error(), "nats destination "+url+": connect") {
		t.Fatalf("delivering to a closed port: %v, want a connect error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Deliver returned after %v", elapsed)
	}
}

func TestNATSCancelled(t *testing.T) {
	dest := openTestNATS(t, Config{URL: testNATSURL, Origin: "o"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := dest.Deliver(ctx, testDelivery(t, 1)); err == nil {
		t.Fatal("Deliver with a cancelled context succeeded")
	}
}
