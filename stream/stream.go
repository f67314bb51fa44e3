// Package stream delivers the log to the tools security teams run (SIEMs,
// pipelines): each stream sends every activity that matches its filter,
// in id order, at least once, to one destination, and never skips one.
// A Destination speaks one protocol (webhook, syslog, NATS JetStream,
// Splunk HEC); the Runner moves each stream's cursor only on its
// destination's acknowledgement.
package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/auditlog/auditlog"
)

// Destination types.
const (
	TypeWebhook   = "webhook"
	TypeSyslog    = "syslog"
	TypeNATS      = "nats"
	TypeSplunkHEC = "splunk_hec"
)

// Delivery is one batch of activities for a destination, in id order.
type Delivery struct {
	// ID is the same for every attempt of this delivery, and one ID always
	// carries the same activities: "<stream id>-<first id>-<last id>".
	ID string
	// Activities are the activities delivered; Payloads[i] is Activities[i]
	// encoded in the stream's format (the API's JSON, or OCSF).
	Activities []auditlog.Activity
	Payloads   []json.RawMessage
}

// A Destination delivers batches. Deliver returns nil only once the
// destination has acknowledged every activity of d; an error means the
// delivery may be retried from its first activity (destinations
// de-duplicate what they can: webhook ids, Nats-Msg-Id).
type Destination interface {
	Deliver(ctx context.Context, d Delivery) error
	// Close releases the destination's connections.
	Close() error
}

// Config is where a stream delivers to.
type Config struct {
	Type string
	// URL is http(s):// for webhook and splunk_hec (the HEC base URL),
	// tcp:// or tls:// for syslog, nats:// for nats.
	URL string
	// Secret is the webhook signing secret (whsec_...) or the HEC token.
	Secret string
	// Subject is the NATS subject prefix ("auditlog" when empty).
	Subject string
	// CAPEM, when set, is the CA that tls:// and https:// destinations'
	// certificates must chain to, instead of the system roots.
	CAPEM string
	// Origin is the log's origin, which NATS message ids start with.
	Origin string
}

// opener opens one type of destination.
type opener func(Config) (Destination, error)

// openers are the destination types, registered by the file of each.
var openers = map[string]opener{}

// Open opens a destination.
func Open(cfg Config) (Destination, error) {
	open, ok := openers[cfg.Type]
	if !ok {
		return nil, auditlog.FieldErrorf("type", "type must be webhook, syslog, nats or splunk_hec, not %q", cfg.Type)
	}
	d, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s destination: %w", cfg.Type, err)
	}
	return d, nil
}

// httpClient is the client of an http(s) destination at host: the TLS
// configuration tlsConfig gives, and no redirect followed (a redirect is
// a failed delivery, never a delivery somewhere else).
func httpClient(caPEM, host string) (*http.Client, error) {
	tlsCfg, err := tlsConfig(caPEM, host)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	return &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// tlsConfig is the TLS configuration of a destination: the system roots,
// or only the CA given.
func tlsConfig(caPEM, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, auditlog.FieldErrorf("ca_pem", "ca_pem holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
