// Package streamtest receives streams for tests: a webhook endpoint that
// verifies every delivery as the Standard Webhooks specification says,
// written from the specification
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)
// and not from the service's signer.
package streamtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// WebhookReceiver is a webhook endpoint that keeps what it accepted.
type WebhookReceiver struct {
	// URL is its address.
	URL string
	t   testing.TB
	key []byte
	mu  sync.Mutex
	// fail, while above 0, makes that many next requests answer 500;
	// hang makes the next one wait 1.5 s, then answer 503.
	fail     int
	hang     bool
	byID     map[string][]int64 // each accepted delivery's activity ids
	order    []string           // webhook-ids in the order accepted
	attempts map[string]int
}

// NewWebhookReceiver starts a receiver of deliveries signed with secret;
// it stops when the test ends.
func NewWebhookReceiver(t testing.TB, secret string) *WebhookReceiver {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	r := &WebhookReceiver{t: t, key: key, byID: map[string][]int64{}, attempts: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Fail makes the next n requests answer 500.
func (rc *WebhookReceiver) Fail(n int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail = n
}

// Hang makes the next request wait 1.5 s before it answers 503.
func (rc *WebhookReceiver) Hang() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hang = true
}

// MostAttempts is the most attempts any one delivery took.
func (rc *WebhookReceiver) MostAttempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	most := 0
	for _, n := range rc.attempts {
		most = max(most, n)
	}
	return most
}

// ServeHTTP verifies a delivery and keeps it, or answers as Fail and Hang
// say.
func (rc *WebhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The sender went away mid-body (a test kills the service while
		// it delivers): there is no one to answer and nothing was delivered.
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	if !rc.verified(id, ts, r.Header.Get("webhook-signature"), body) || r.Header.Get("Content-Type") != "application/json" {
		rc.t.Errorf("a delivery that does not verify: id %q timestamp %q signature %q", id, ts, r.Header.Get("webhook-signature"))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var payload struct {
		Type string `json:"type"`
		Data struct {
			Activities []auditlog.Activity `json:"activities"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Type != "auditlog.activities" {
		rc.t.Errorf("delivery %s: %v %s", id, err, body)
	}
	var ids []int64
	for _, a := range payload.Data.Activities {
		ids = append(ids, a.ID)
	}
	rc.mu.Lock()
	rc.attempts[id]++
	if prev, seen := rc.byID[id]; seen && !slices.Equal(prev, ids) {
		rc.t.Errorf("webhook-id %s carried %v, then %v", id, prev, ids)
	}
	switch {
	case rc.hang:
		rc.hang = false
		rc.mu.Unlock()
		time.Sleep(1500 * time.Millisecond)
		http.Error(w, "too late", http.StatusServiceUnavailable)
		return
	case rc.fail > 0:
		rc.fail--
		rc.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	if _, seen := rc.byID[id]; !seen {
		rc.order = append(rc.order, id)
	}
	rc.byID[id] = ids
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verified checks a signature as the specification says: HMAC-SHA256 of
// "id.timestamp.body" with the secret's bytes, among the space-separated
// "v1,<base64>" signatures, and a timestamp within five minutes.
func (rc *WebhookReceiver) verified(id, ts, signatures string, body []byte) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, rc.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(signatures) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return true
		}
	}
	return false
}

// Delivered is every activity id accepted, in the order accepted, each
// delivery once.
func (rc *WebhookReceiver) Delivered() []int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []int64
	for _, id := range rc.order {
		out = append(out, rc.byID[id]...)
	}
	return out
}

// WaitFor waits until the receiver holds want, in order.
func (rc *WebhookReceiver) WaitFor(t testing.TB, want []int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rc.Delivered()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d activities (%.20v...), want %d (%.20v...)", len(got), got, len(want), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
