package stream

// The peers of the syslog and NATS destination tests, and the deliveries
// both send. make test installs rsyslog (with its GnuTLS driver); the NATS
// server with JetStream runs on the machine. Without a peer a test fails in
// CI (CI set) and is skipped elsewhere.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// peerTimeout bounds waiting for a peer to start or to write what it got.
const peerTimeout = 5 * time.Second

// requirePeer ends a test whose peer is missing: it fails in CI and is
// skipped elsewhere.
func requirePeer(t testing.TB, peer string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (make test installs it): %v", peer, err)
	}
	t.Skipf("%s is missing (make test installs it; CI fails instead): %v", peer, err)
}

// testDelivery is a delivery of three activities, from id first on: a
// login, a failed login by a user whose name needs escaping in syslog
// structured data, and one whose system name is longer than a syslog MSGID
// and whose time is not in UTC.
func testDelivery(t testing.TB, first int64) Delivery {
	t.Helper()
	created := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC).Add(time.Duration(first) * time.Second)
	activities := []auditlog.Activity{
		{SystemName: "LOGIN", Operator: auditlog.OperatorHuman, Username: "jdoe", ObjectType: "user", ObjectID: "42", Created: created},
		{SystemName: "LOGIN_FAILED", Operator: auditlog.OperatorHuman, Username: `we"ird\user]`, Created: created.Add(time.Millisecond)},
		{SystemName: "APPROVE_INVOICE_FOR_THE_REGIONAL_FINANCE_TEAM", Operator: auditlog.OperatorMachine, ObjectType: "invoice", ObjectID: "INV-7",
			Created: created.Add(2 * time.Millisecond).In(time.FixedZone("CEST", 2*3600))},
	}
	d := Delivery{ID: fmt.Sprintf("1-%d-%d", first, first+2), Activities: activities}
	for i := range d.Activities {
		d.Activities[i].ID = first + int64(i)
		payload, err := json.Marshal(d.Activities[i])
		if err != nil {
			t.Fatal(err)
		}
		d.Payloads = append(d.Payloads, payload)
	}
	return d
}

// checkOpenRejects checks that Open refuses each of cfgs as a destination
// of type typ, with an error that does not show the secret.
func checkOpenRejects(t *testing.T, typ string, cfgs ...Config) {
	t.Helper()
	for _, cfg := range cfgs {
		cfg.Type, cfg.Secret = typ, "never-shown-secret"
		d, err := Open(cfg)
		switch {
		case err == nil:
			d.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		case strings.Contains(err.Error(), cfg.Secret):
			t.Errorf("Open(%+v): %v, which shows the secret", cfg, err)
		}
	}
}

// deliverWithin delivers each of ds to dest with a few seconds to do it.
func deliverWithin(t *testing.T, dest Destination, ds ...Delivery) error {
	t.Helper()
	for _, d := range ds {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err := dest.Deliver(ctx, d)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// closedPort is the address of a port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rsyslog is a private rsyslogd that writes the fields of each message it
// receives on one line of out.log, separated by tabs: PRI, TIMESTAMP,
// HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA and MSG.
type rsyslog struct {
	t      *testing.T
	dir    string
	port   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// rsyslogConf is rsyslogd's configuration; %s are the work directory and
// the input's parameters.
const rsyslogConf = `global(workDirectory="%[1]s")
module(load="imtcp")
template(name="fields" type="string"
	string="%%pri%%\t%%timereported:::date-rfc3339%%\t%%hostname%%\t%%app-name%%\t%%procid%%\t%%msgid%%\t%%structured-data%%\t%%msg%%\n")
ruleset(name="out") { action(type="omfile" file="%[1]s/out.log" template="fields") }
input(type="imtcp" ruleset="out" listenPortFileName="%[1]s/port" %[2]s)
`

// startRsyslog starts rsyslogd listening on 127.0.0.1 at port ("0": any
// free port), over TLS with the server certificate of ca when ca is not
// nil; it stops when the test ends.
func startRsyslog(t *testing.T, port string, ca *testCA) *rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		requirePeer(t, "rsyslogd", err)
	}
	r := &rsyslog{t: t, dir: t.TempDir(), exited: make(chan struct{})}
	params := fmt.Sprintf(`address="127.0.0.1" port=%q`, port)
	if ca != nil {
		params += r.tlsParams(ca)
	}
	conf := filepath.Join(r.dir, "rsyslog.conf")
	writeFile(t, conf, fmt.Sprintf(rsyslogConf, r.dir, params))
	log, err := os.Create(filepath.Join(r.dir, "rsyslogd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	r.cmd = exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	if port == "0" {
		r.port = r.waitFor("port", func(port string) bool { return port != "" })
	} else {
		r.port = port
		r.poll("to listen", r.listens)
	}
	return r
}

// listens reports whether rsyslogd accepts connections.
func (r *rsyslog) listens() bool {
	c, err := net.Dial("tcp", r.addr())
	if err == nil {
		c.Close()
	}
	return err == nil
}

// tlsParams are the input parameters of the GnuTLS driver, with a server
// certificate for 127.0.0.1 that ca issues.
func (r *rsyslog) tlsParams(ca *testCA) string {
	r.t.Helper()
	if found, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(found) == 0 {
		requirePeer(r.t, "rsyslog's GnuTLS driver (Debian's rsyslog-gnutls)", os.ErrNotExist)
	}
	certFile, keyFile := ca.issue(r.t, r.dir)
	caFile := filepath.Join(r.dir, "ca.pem")
	writeFile(r.t, caFile, string(ca.pem))
	return fmt.Sprintf(` streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon" streamDriver.CAFile=%q streamDriver.CertFile=%q streamDriver.KeyFile=%q`,
		caFile, certFile, keyFile)
}

// addr is the host:port rsyslogd listens on.
func (r *rsyslog) addr() string { return net.JoinHostPort("127.0.0.1", r.port) }

// stop kills rsyslogd and waits for it to exit.
func (r *rsyslog) stop() {
	r.cmd.Process.Kill()
	<-r.exited
}

// lines waits for n messages in out.log and returns the lines there.
func (r *rsyslog) lines(n int) []string {
	r.t.Helper()
	out := r.waitFor("out.log", func(out string) bool { return strings.Count(out, "\n") >= n })
	return strings.Split(out, "\n")
}

// waitFor waits for the file of r.dir named name to hold what done accepts,
// and returns its contents without the final newline.
func (r *rsyslog) waitFor(name string, done func(string) bool) string {
	r.t.Helper()
	var contents string
	r.poll("to write "+name, func() bool {
		b, _ := os.ReadFile(filepath.Join(r.dir, name))
		contents = string(b)
		return done(contents)
	})
	return strings.TrimSuffix(contents, "\n")
}

// poll waits for ready to report true, failing the test when rsyslogd
// exits or peerTimeout passes first.
func (r *rsyslog) poll(what string, ready func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(peerTimeout); !ready(); time.Sleep(20 * time.Millisecond) {
		select {
		case <-r.exited:
			r.t.Fatalf("rsyslogd exited: %s", r.log())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd failed %s in %v: %s", what, peerTimeout, r.log())
		}
	}
}

// log is what rsyslogd printed.
func (r *rsyslog) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.log"))
	return string(b)
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// newTestCA makes a certificate authority.
func newTestCA(t testing.TB) *testCA {
	t.Helper()
	tmpl := certTemplate(pkix.Name{CommonName: "auditlog test CA"})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a server certificate for 127.0.0.1 and its key into dir,
// returning their files.
func (ca *testCA) issue(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	tmpl := certTemplate(pkix.Name{CommonName: "127.0.0.1"})
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

// certTemplate is a certificate of subject valid for the hour around now.
func certTemplate(subject pkix.Name) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	return &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: now.Add(-30 * time.Minute), NotAfter: now.Add(30 * time.Minute)}
}

// newKey is a new P-256 key.
func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// writeFile writes a file of the test.
func writeFile(t testing.TB, name, contents string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
}
