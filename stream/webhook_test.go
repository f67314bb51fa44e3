package stream_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/stream"
)

func TestAWebhookOverHTTPSTrustsTheCAGivenOrTheSystemRoots(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	d := stream.Delivery{ID: "stream1-1-1", Activities: []auditlog.Activity{{ID: 1}}, Payloads: []json.RawMessage{json.RawMessage(`{"id":1}`)}}
	deliver := func(caPEM string) error {
		dest, err := stream.Open(stream.Config{Type: stream.TypeWebhook, URL: srv.URL + "/hook", Secret: auditlog.NewWebhookSecret(), CAPEM: caPEM})
		if err != nil {
			t.Fatal(err)
		}
		defer dest.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return dest.Deliver(ctx, d)
	}
	if err := deliver(ca); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	if id := <-got; id != d.ID {
		t.Fatalf("webhook-id %q, want %q", id, d.ID)
	}
	if err := deliver(""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a private CA's certificate against the system roots: %v", err)
	}
	if _, err := stream.Open(stream.Config{Type: stream.TypeWebhook, URL: srv.URL, Secret: auditlog.NewWebhookSecret(), CAPEM: "not a certificate"}); err == nil || !strings.Contains(err.Error(), "ca_pem") {
		t.Fatalf("a CA that is no PEM: %v", err)
	}
}
