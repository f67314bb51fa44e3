package stream

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// hecToken is the HEC token of the tests.
const hecToken = "5c1a7e2b-9d4f-4e8a-b3c6-0f2d8e7a1b9c"

// hecReceiver is a Splunk HTTP Event Collector's event endpoint as Splunk
// documents it (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector,
// https://docs.splunk.com/Documentation/Splunk/latest/Data/TroubleshootHTTPEventCollector):
// it authenticates "Authorization: Splunk <token>", reads the body as
// JSON event objects one after another, and answers with HEC's status
// codes, written from that documentation and not from the destination.
type hecReceiver struct {
	t *testing.T
	// path is where the endpoint is: /services/collector/event when "".
	path string
	// status and answer, when set, are the answer to a request HEC would
	// accept, instead of 200 {"text":"Success","code":0}.
	status int
	answer string
	mu     sync.Mutex
	events []map[string]json.RawMessage
}

func newHECReceiver(t *testing.T) (*hecReceiver, *httptest.Server) {
	rc := &hecReceiver{t: t}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *hecReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := rc.path
	if path == "" {
		path = "/services/collector/event"
	}
	switch auth := r.Header.Get("Authorization"); {
	case r.Method != http.MethodPost || r.URL.Path != path:
		rc.t.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, path)
		hecAnswerWith(w, http.StatusNotFound, `{"text":"The requested URL was not found on this server.","code":404}`)
	case auth == "":
		hecAnswerWith(w, http.StatusUnauthorized, `{"text":"Token is required","code":2}`)
	case auth != "Splunk "+hecToken:
		hecAnswerWith(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
	default:
		rc.read(w, r)
	}
}

// read reads the events of a request, and answers.
func (rc *hecReceiver) read(w http.ResponseWriter, r *http.Request) {
	var events []map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	for i := 0; ; i++ {
		var e map[string]json.RawMessage
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		switch {
		case err != nil:
			hecAnswerWith(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6,"invalid-event-number":`+strconv.Itoa(i)+`}`)
			return
		case e["event"] == nil:
			hecAnswerWith(w, http.StatusBadRequest, `{"text":"Event field is required","code":12,"invalid-event-number":`+strconv.Itoa(i)+`}`)
			return
		}
		events = append(events, e)
	}
	if rc.status != 0 {
		hecAnswerWith(w, rc.status, rc.answer)
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, events...)
	rc.mu.Unlock()
	hecAnswerWith(w, http.StatusOK, `{"text":"Success","code":0}`)
}

func hecAnswerWith(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// received returns the events accepted so far.
func (rc *hecReceiver) received() []map[string]json.RawMessage {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), rc.events...)
}

// openTestHEC opens a HEC destination, closed when the test ends.
func openTestHEC(t *testing.T, url, caPEM string) Destination {
	t.Helper()
	d, err := Open(Config{Type: TypeSplunkHEC, URL: url, Secret: hecToken, CAPEM: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// checkHECError checks that err is an error that names each of want and
// does not show the token.
func checkHECError(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("delivered, want an error naming %q", want)
	}
	if strings.Contains(err.Error(), hecToken) {
		t.Errorf("%v: shows the token", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v: does not name %q", err, w)
		}
	}
}

func TestHECDeliversEveryActivityAsAnEvent(t *testing.T) {
	rc, srv := newHECReceiver(t)
	d := testDelivery(t, 1)
	if err := deliverWithin(t, openTestHEC(t, srv.URL, ""), d); err != nil {
		t.Fatal(err)
	}
	events := rc.received()
	if len(events) != len(d.Payloads) {
		t.Fatalf("%d events, want %d", len(events), len(d.Payloads))
	}
	// 2026-03-04T05:06:08.123456Z, then 1 ms and 2 ms later (the third in CEST).
	times := []string{"1772600768.123456", "1772600768.124456", "1772600768.125456"}
	for i, e := range events {
		if len(e) != 4 || string(e["time"]) != times[i] || string(e["source"]) != `"auditlog"` ||
			string(e["sourcetype"]) != `"auditlog:activity"` || string(e["event"]) != string(d.Payloads[i]) {
			t.Errorf("event %d: %s %s %s %s, want time %s, source auditlog, sourcetype auditlog:activity and the payload %s",
				i, e["time"], e["source"], e["sourcetype"], e["event"], times[i], d.Payloads[i])
		}
	}
}

func TestHECEndpointUnderTheBaseURL(t *testing.T) {
	for _, c := range []struct{ base, path string }{
		{"", "/services/collector/event"},
		{"/", "/services/collector/event"},
		{"/splunk", "/splunk/services/collector/event"},
		{"/splunk/", "/splunk/services/collector/event"},
	} {
		rc, srv := newHECReceiver(t)
		rc.path = c.path
		if err := deliverWithin(t, openTestHEC(t, srv.URL+c.base, ""), testDelivery(t, 1)); err != nil {
			t.Errorf("base URL %q: %v", srv.URL+c.base, err)
		}
	}
}

func TestHECRefusals(t *testing.T) {
	for _, c := range []struct {
		status int
		answer string
		want   []string
	}{
		{http.StatusForbidden, `{"text":"Invalid token","code":4}`, []string{"403 Forbidden", "Invalid token"}},
		{http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`, []string{"503 Service Unavailable", "Server is busy"}},
		{http.StatusOK, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`, []string{"200 OK", "code 6", "Invalid data format"}},
		{http.StatusOK, `{"text":"Success"}`, []string{"200 OK", "not a HEC answer"}},
		{http.StatusBadGateway, `<html>Bad Gateway</html>`, []string{"502 Bad Gateway", "<html>Bad Gateway</html>"}},
		{http.StatusBadRequest, `{"text":"Authorization: Splunk ` + hecToken + `","code":6}`, []string{"400 Bad Request", "Splunk [redacted]"}},
	} {
		rc, srv := newHECReceiver(t)
		rc.status, rc.answer = c.status, c.answer
		checkHECError(t, deliverWithin(t, openTestHEC(t, srv.URL, ""), testDelivery(t, 1)), c.want...)
	}
}

func TestHECWrongToken(t *testing.T) {
	rc, srv := newHECReceiver(t)
	d, err := Open(Config{Type: TypeSplunkHEC, URL: srv.URL, Secret: "00000000-0000-0000-0000-000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = deliverWithin(t, d, testDelivery(t, 1))
	checkHECError(t, err, "403 Forbidden", "code 4", "Invalid token")
	if strings.Contains(err.Error(), "00000000-0000") {
		t.Errorf("%v: shows the token", err)
	}
	if n := len(rc.received()); n != 0 {
		t.Errorf("%d events accepted with the wrong token", n)
	}
}

func TestHECOverHTTPS(t *testing.T) {
	rc := &hecReceiver{t: t}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	if err := deliverWithin(t, openTestHEC(t, srv.URL, caPEM), testDelivery(t, 1)); err != nil {
		t.Fatalf("with the test CA: %v", err)
	}
	checkHECError(t, deliverWithin(t, openTestHEC(t, srv.URL, ""), testDelivery(t, 4)), "certificate")
	if n := len(rc.received()); n != 3 {
		t.Errorf("%d events, want the 3 delivered with the test CA", n)
	}
}

func TestHECFollowsNoRedirect(t *testing.T) {
	rc, elsewhere := newHECReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/services/collector/event", http.StatusTemporaryRedirect))
	defer redirect.Close()
	checkHECError(t, deliverWithin(t, openTestHEC(t, redirect.URL, ""), testDelivery(t, 1)), "307 Temporary Redirect")
	if n := len(rc.received()); n != 0 {
		t.Errorf("the redirect was followed: %d events elsewhere", n)
	}
}

func TestHECClosedPort(t *testing.T) {
	checkHECError(t, deliverWithin(t, openTestHEC(t, "http://"+closedPort(t), ""), testDelivery(t, 1)), "connection refused")
}

func TestHECOpenRejects(t *testing.T) {
	checkOpenRejects(t, TypeSplunkHEC,
		Config{URL: "tcp://x.example:8088"},
		Config{URL: "https://"},
		Config{URL: "://x.example"},
		Config{URL: "https://x.example:8088", CAPEM: "not a certificate"})
	if d, err := Open(Config{Type: TypeSplunkHEC, URL: "https://x.example:8088"}); err == nil {
		d.Close()
		t.Error("a HEC destination without a token opened")
	}
}
