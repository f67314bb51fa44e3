package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// openTestSyslog opens a syslog destination at url, closed when the test
// ends.
func openTestSyslog(t *testing.T, url, caPEM string) Destination {
	t.Helper()
	d, err := Open(Config{Type: TypeSyslog, URL: url, CAPEM: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// wantSyslogLines are the lines rsyslog writes for the deliveries ds.
func wantSyslogLines(ds ...Delivery) []string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	pri := []string{"110", "109", "110"}
	msgID := []string{"LOGIN", "LOGIN_FAILED", "APPROVE_INVOICE_FOR_THE_REGIONAL"}
	sd := []string{
		`[auditlog@32473 id="%d" operator="human" username="jdoe" object_type="user" object_id="42"]`,
		`[auditlog@32473 id="%d" operator="human" username="we\"ird\\user\]" object_type="" object_id=""]`,
		`[auditlog@32473 id="%d" operator="machine" username="" object_type="invoice" object_id="INV-7"]`,
	}
	var lines []string
	for _, d := range ds {
		for i, a := range d.Activities {
			fields := []string{pri[i], a.Created.UTC().Format("2006-01-02T15:04:05.000000Z"), host, "auditlog", "-",
				msgID[i], fmt.Sprintf(sd[i], a.ID), string(d.Payloads[i])}
			lines = append(lines, strings.Join(fields, "\t"))
		}
	}
	return lines
}

// checkLines compares the lines rsyslog wrote with those wanted.
func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("rsyslog got %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("message %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestSyslogMessage(t *testing.T) {
	d := testDelivery(t, 1)
	got := string(appendSyslogMessage(nil, "host.example", d.Activities[1], d.Payloads[1]))
	want := `<109>1 2026-03-04T05:06:08.124456Z host.example auditlog - LOGIN_FAILED ` +
		`[auditlog@32473 id="2" operator="human" username="we\"ird\\user\]" object_type="" object_id=""] ` + string(d.Payloads[1])
	if got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
}

func TestSyslogOpenRejects(t *testing.T) {
	checkOpenRejects(t, TypeSyslog,
		Config{URL: "udp://127.0.0.1:514"},
		Config{URL: "tcp://127.0.0.1"},
		Config{URL: "tcp://:514"},
		Config{URL: "127.0.0.1:514"},
		Config{URL: "tls://127.0.0.1:6514", CAPEM: "not PEM"},
	)
}

func TestSyslogTCP(t *testing.T) {
	t.Parallel()
	r := startRsyslog(t, "0", nil)
	dest := openTestSyslog(t, "tcp://"+r.addr(), "")
	ds := []Delivery{testDelivery(t, 1), testDelivery(t, 4)}
	if err := deliverWithin(t, dest, ds...); err != nil {
		t.Fatal(err)
	}
	checkLines(t, r.lines(6), wantSyslogLines(ds...))
}

func TestSyslogRedialsAfterReceiverRestart(t *testing.T) {
	t.Parallel()
	first := startRsyslog(t, "0", nil)
	dest := openTestSyslog(t, "tcp://"+first.addr(), "")
	d1, d2 := testDelivery(t, 1), testDelivery(t, 4)
	if err := deliverWithin(t, dest, d1); err != nil {
		t.Fatal(err)
	}
	checkLines(t, first.lines(3), wantSyslogLines(d1))
	first.stop()
	select {
	case <-dest.(*syslogDestination).gone:
	case <-time.After(peerTimeout):
		t.Fatal("the destination did not see rsyslogd close the connection")
	}
	if err := deliverWithin(t, dest, d2); err == nil || !strings.Contains(err.Error(), "syslog destination tcp://"+first.addr()+": dial") {
		t.Fatalf("delivering with rsyslogd stopped: %v, want a dial error", err)
	}
	second := startRsyslog(t, first.port, nil)
	if err := deliverWithin(t, dest, d2); err != nil {
		t.Fatal(err)
	}
	checkLines(t, second.lines(3), wantSyslogLines(d2))
}

func TestSyslogTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	r := startRsyslog(t, "0", ca)
	url := "tls://" + r.addr()
	for name, caPEM := range map[string]string{"without the CA": "", "with another CA": string(newTestCA(t).pem)} {
		err := deliverWithin(t, openTestSyslog(t, url, caPEM), testDelivery(t, 1))
		if err == nil || !strings.Contains(err.Error(), "syslog destination "+url+": dial") || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a dial error about the certificate", name, err)
		}
	}
	ds := []Delivery{testDelivery(t, 1), testDelivery(t, 4)}
	if err := deliverWithin(t, openTestSyslog(t, url, string(ca.pem)), ds...); err != nil {
		t.Fatal(err)
	}
	checkLines(t, r.lines(6), wantSyslogLines(ds...))
}

func TestSyslogClosedPort(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	err := deliverWithin(t, openTestSyslog(t, "tcp://"+addr, ""), testDelivery(t, 1))
	if err == nil || !strings.Contains(err.Error(), "syslog destination tcp://"+addr+": dial") {
		t.Fatalf("delivering to a closed port: %v, want a dial error", err)
	}
}

// TestSyslogStalledReceiver checks that a write to a receiver that stops
// reading ends with the context, at its deadline or its cancellation.
func TestSyslogStalledReceiver(t *testing.T) {
	t.Parallel()
	addr := stalledReceiver(t)
	// More than the socket buffers of both ends hold (a few MiB on
	// loopback).
	big := testDelivery(t, 1)
	big.Payloads[0] = json.RawMessage(`"` + strings.Repeat("x", 32<<20) + `"`)
	for name, ctx := range map[string]func() (context.Context, context.CancelFunc){
		"deadline": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 200*time.Millisecond)
		},
		"cancellation": func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		},
	} {
		ctx, cancel := ctx()
		start := time.Now()
		err := openTestSyslog(t, "tcp://"+addr, "").Deliver(ctx, big)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "syslog destination tcp://"+addr+": write") {
			t.Errorf("%s: %v, want a write error", name, err)
		}
		// Without the deadline the write would never end; the bound leaves
		// room for writing 32 MiB into the message under the race detector
		// on a busy machine.
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("%s: Deliver returned after %v", name, elapsed)
		}
	}
}

// stalledReceiver is the address of a receiver that accepts connections
// and never reads them.
func stalledReceiver(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(conns) > 0 {
			(<-conns).Close()
		}
	})
	return ln.Addr().String()
}
