package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
)

// What the HEC destination sends and reads.
const (
	hecPath       = "services/collector/event"
	hecSource     = "auditlog"
	hecSourcetype = "auditlog:activity"
	hecMaxAnswer  = 4 << 10 // bytes of an answer read
	hecMaxText    = 512     // bytes of an answer's text shown in an error
)

func init() { openers[TypeSplunkHEC] = openHEC }

// hec POSTs each delivery to a Splunk HTTP Event Collector as one HEC event
// per activity, authenticated by the HEC token. A delivery is acknowledged
// by a 2xx answer whose code is 0 (HEC's "Success").
type hec struct {
	url    string // the event endpoint
	token  string
	client *http.Client
}

// openHEC opens a HEC destination; cfg.URL is the collector's base URL.
func openHEC(cfg Config) (Destination, error) {
	if cfg.Secret == "" {
		return nil, auditlog.FieldErrorf("secret", "a splunk_hec stream needs its HEC token as the secret")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, auditlog.FieldErrorf("url", "url must be the HEC base URL, http(s)://host[:port][/path]")
	}
	client, err := httpClient(cfg.CAPEM, u.Hostname())
	if err != nil {
		return nil, err
	}
	return &hec{url: u.JoinPath(hecPath).Redacted(), token: cfg.Secret, client: client}, nil
}

// hecEvent is one event of a HEC request's body.
type hecEvent struct {
	// Time is the activity's creation, epoch seconds with microseconds.
	Time       json.Number     `json:"time"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Event      json.RawMessage `json:"event"`
}

// hecAnswer is HEC's answer to a request: {"text":"Success","code":0}.
type hecAnswer struct {
	Text string `json:"text"`
	Code *int   `json:"code"`
}

// Deliver implements Destination.
func (h *hec) Deliver(ctx context.Context, d Delivery) error {
	body, err := hecBody(d)
	if err != nil {
		return h.errorf("%w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return h.errorf("%w", err)
	}
	req.Header.Set("Authorization", "Splunk "+h.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "auditlog-stream")
	resp, err := h.client.Do(req)
	if err != nil {
		var uerr *url.Error // it names the method and URL, which errorf names
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return h.errorf("%w", err)
	}
	defer resp.Body.Close()
	return h.check(resp)
}

// hecBody is the events of d, one JSON object a line.
func hecBody(d Delivery) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the payloads stay as they are
	for i, p := range d.Payloads {
		e := hecEvent{Time: hecTime(d.Activities[i].Created), Source: hecSource, Sourcetype: hecSourcetype, Event: p}
		if err := enc.Encode(e); err != nil {
			return nil, fmt.Errorf("activity %d: %w", d.Activities[i].ID, err)
		}
	}
	return buf.Bytes(), nil
}

// hecTime is t in epoch seconds with microseconds: 1764148443.123456.
func hecTime(t time.Time) json.Number {
	return json.Number(strconv.FormatInt(t.Unix(), 10) + fmt.Sprintf(".%06d", t.Nanosecond()/1000))
}

// check returns nil for an answer that acknowledges the delivery, and
// otherwise an error naming the status and HEC's text.
func (h *hec) check(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, hecMaxAnswer))
	var answer hecAnswer
	if json.Unmarshal(body, &answer) != nil || answer.Code == nil {
		return h.errorf("%s, not a HEC answer: %q", resp.Status, h.redact(string(body)))
	}
	if resp.StatusCode/100 != 2 || *answer.Code != 0 {
		return h.errorf("%s: HEC code %d: %s", resp.Status, *answer.Code, h.redact(answer.Text))
	}
	return nil
}

// redact takes the token out of text from the receiver, in case it echoes
// the request's headers, and clips it.
func (h *hec) redact(text string) string {
	return auditlog.Clip(strings.ReplaceAll(text, h.token, auditlog.Redacted), hecMaxText)
}

// errorf is an error naming the destination.
func (h *hec) errorf(format string, args ...any) error {
	return fmt.Errorf("splunk_hec destination %s: %w", h.url, fmt.Errorf(format, args...))
}

// Close implements Destination.
func (h *hec) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
