package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const adminPassword = "the admin's long password"

// login logs in over HTTP and returns the session cookie's value, or "" with
// the status when the login is refused.
func login(t *testing.T, client *http.Client, baseURL, username, pw string) (string, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": pw})
	resp, err := client.Post(baseURL+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "auditlog_session" {
			return c.Value, resp.StatusCode
		}
	}
	return "", resp.StatusCode
}

// whoami answers GET /api/v1/session's status for a session cookie.
func whoami(t *testing.T, baseURL, session string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", baseURL+"/api/v1/session", nil)
	req.AddCookie(&http.Cookie{Name: "auditlog_session", Value: session})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdministrationFromTheCommandLine manages a user's whole life, a group
// and tokens with the commands while the service runs, and finds each
// change in effect at once and recorded as the machine's, with the
// operating-system user that ran the command.
func TestAdministrationFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, "AUDITLOG_ADMIN_PASSWORD="+adminPassword)
	data := []string{"--data", dir}
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := cli(t, stdin, append(args, data...)...)
		if err != nil {
			t.Fatalf("auditlog %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	run("", "group", "create", "--name", "Auditors", "--permissions", "activities:read")
	run("", "group", "edit", "--name", "auditors", "--permissions", "activities:read,activities:export")
	run(adminPassword+"\n", "user", "create", "--username", "audrey", "--group", "Auditors", "--password-stdin")
	if out := run("", "group", "list"); !regexp.MustCompile(`Auditors\s+activities:read,activities:export`).MatchString(out) {
		t.Fatalf("group list:\n%s", out)
	}

	session, status := login(t, http.DefaultClient, srv.url, "audrey", adminPassword)
	if session == "" {
		t.Fatalf("audrey's login: %d", status)
	}
	if out := run("", "session", "list"); !strings.Contains(out, "audrey") {
		t.Fatalf("session list does not show audrey's session:\n%s", out)
	}
	if out := run("", "session", "revoke", "--user", "audrey"); !strings.Contains(out, "ended 1 session\n") {
		t.Fatalf("session revoke: %s", out)
	}
	if code := whoami(t, srv.url, session); code != http.StatusUnauthorized {
		t.Fatalf("a revoked session answers %d", code)
	}

	run("", "user", "edit", "--username", "audrey", "--disable")
	if _, code := login(t, http.DefaultClient, srv.url, "audrey", adminPassword); code != http.StatusUnauthorized {
		t.Fatalf("a disabled user logs in: %d", code)
	}
	if _, _, err := cli(t, "", append([]string{"group", "delete", "--name", "Auditors"}, data...)...); err == nil || !strings.Contains(describe(err), "move them") {
		t.Fatalf("deleting a group with a (disabled) member: %v", err)
	}
	run("", "user", "edit", "--username", "audrey", "--enable")
	run("", "user", "delete", "--username", "audrey")
	if out := run("", "user", "list"); !regexp.MustCompile(`audrey\s+Auditors\s+deleted`).MatchString(out) {
		t.Fatalf("user list:\n%s", out)
	}
	run("", "user", "restore", "--username", "audrey")
	if session, code := login(t, http.DefaultClient, srv.url, "audrey", adminPassword); session == "" {
		t.Fatalf("the restored user's login: %d", code)
	}

	reader := strings.TrimSpace(run("", "token", "create", "--name", "reader", "--scopes", "activities:read", "--user", "admin"))
	if out := run("", "token", "list"); !regexp.MustCompile(`1\s+reader\s+admin\s+activities:read\s+never\s+active`).MatchString(out) {
		t.Fatalf("token list:\n%s", out)
	}
	var tokens []struct{ ID int64 }
	if err := json.Unmarshal([]byte(run("", "token", "list", "--json")), &tokens); err != nil || len(tokens) != 1 {
		t.Fatalf("token list --json: %v %v", tokens, err)
	}
	newReader := strings.TrimSpace(run("", "token", "reset", "--id", "1"))
	if code := call(t, "GET", srv.url+"/api/v1/activities", reader, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("the token before its reset: %d", code)
	}
	acts := listAll(t, srv.url, newReader, "operator=machine").Activities
	run("", "token", "revoke", "--id", "1")
	if code := call(t, "GET", srv.url+"/api/v1/activities", newReader, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", code)
	}

	want := []string{"CREATE_PERMISSION_GROUP", "CREATE_USER", // the first start
		"CREATE_PERMISSION_GROUP", "EDIT_PERMISSION_GROUP", "CREATE_USER", "RESET_USER_AUTHORIZATION_TOKEN",
		"EDIT_USER", "EDIT_USER", "DELETE_USER", "RESTORE_USER",
		"CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", "RESET_TOKEN"}
	var got []string
	for i := len(acts) - 1; i >= 0; i-- {
		a := acts[i]
		got = append(got, a.SystemName)
		var extra map[string]string
		if err := json.Unmarshal(a.Extra, &extra); err != nil {
			t.Fatal(err)
		}
		if i < len(acts)-2 && (!strings.HasPrefix(extra["client"], "auditlog ") || extra["os_user"] == "" || extra["host"] == "") {
			t.Errorf("activity %d (%s): extra %v lacks the command, the OS user and the host", a.ID, a.SystemName, extra)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the machine's activities:\n%v\nwant\n%v", got, want)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auditlog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeHTTPSWithACertificate(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	srv := startServer(t, t.TempDir(), "AUDITLOG_TLS_CERT="+certFile, "AUDITLOG_TLS_KEY="+keyFile, "AUDITLOG_ADMIN_PASSWORD="+adminPassword)
	if !strings.HasPrefix(srv.url, "https://") {
		t.Fatalf("serving at %s, want https", srv.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	resp, err = client.Post(srv.url+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secure := false
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == "auditlog_session" && c.Secure)
	}
	if resp.StatusCode != http.StatusCreated || !secure {
		t.Fatalf("login over HTTPS: %d, cookies %v: want a Secure session cookie", resp.StatusCode, resp.Cookies())
	}
	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get("http://" + strings.TrimPrefix(srv.url, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200 on the HTTPS port")
		}
	}
}

func TestTrustedProxiesTakeAddressesAndRanges(t *testing.T) {
	got, err := parseProxies(" 10.0.0.0/8, 192.0.2.7 ,::ffff:198.51.100.1,2001:db8::/32,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "198.51.100.1/32", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("parsed %v, want %v", got, want)
	}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("proxy %d: %s, want %s", i, p, want[i])
		}
	}
	if _, err := parseProxies("10.0.0.0/33"); err == nil || !strings.Contains(describe(err), "--trusted-proxies") {
		t.Errorf("a bad range: %v", err)
	}
}

func TestSessionLifetimesFromTheEnvironmentMustBeDurations(t *testing.T) {
	t.Setenv("AUDITLOG_SESSION_IDLE", "an hour")
	_, _, err := cli(t, "", "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(describe(err), "AUDITLOG_SESSION_IDLE") {
		t.Fatalf("serve with AUDITLOG_SESSION_IDLE=%q: %v", "an hour", err)
	}
}
