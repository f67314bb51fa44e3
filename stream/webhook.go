package stream

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
)

func init() { openers[TypeWebhook] = openWebhook }

// webhook POSTs each delivery as JSON, signed as the Standard Webhooks
// specification says (https://www.standardwebhooks.com): any of its
// libraries verifies a delivery with the stream's secret.
type webhook struct {
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
}

func openWebhook(cfg Config) (Destination, error) {
	key, err := auditlog.WebhookSecretKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	client, err := httpClient(cfg.CAPEM, u.Hostname())
	if err != nil {
		return nil, err
	}
	return &webhook{url: cfg.URL, key: key, now: time.Now, client: client}, nil
}

// Deliver implements Destination: any 2xx acknowledges the delivery.
func (w *webhook) Deliver(ctx context.Context, d Delivery) error {
	now := w.now()
	body := webhookBody(now, d.Payloads)
	req, err := http.NewRequestWithContext(ctx, "POST", w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "auditlog-stream")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+w.sign(d.ID, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %q", w.url, resp.Status, answer)
	}
	return nil
}

// webhookBody is a delivery's body, {"type": "auditlog.activities",
// "timestamp": ..., "data": {"activities": [...]}}, written around the
// payloads (each valid JSON already) instead of through encoding/json,
// which would scan and copy each again.
func webhookBody(now time.Time, payloads []json.RawMessage) []byte {
	n := 96
	for _, p := range payloads {
		n += len(p) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"type":"auditlog.activities","timestamp":"`...)
	body = now.UTC().AppendFormat(body, time.RFC3339)
	body = append(body, `","data":{"activities":[`...)
	for i, p := range payloads {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, p...)
	}
	return append(body, "]}}"...)
}

// sign is the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>".
func (w *webhook) sign(id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, w.key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Close implements Destination.
func (w *webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
