package auditlog

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Stream delivers every activity that matches its filter, in id order,
// at least once, to one destination (package stream delivers it). Its
// cursor, the last id delivered, moves only on the destination's
// acknowledgement and is kept in the store.
type Stream struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	URL       string `json:"url"`
	Format    string `json:"format"`
	Filter    string `json:"filter"`
	BatchSize int    `json:"batch_size"`
	Subject   string `json:"subject,omitempty"`
	CAPEM     string `json:"ca_pem,omitempty"`
	// Paused is set by pause, cleared by resume.
	Paused bool `json:"-"`
	// Cursor is the id of the last activity delivered (0: none yet).
	Cursor         int64     `json:"cursor"`
	Delivered      int64     `json:"delivered"`
	LastDeliveryAt time.Time `json:"-"`
	LastError      string    `json:"last_error"`
	LastErrorAt    time.Time `json:"-"`
	Created        time.Time `json:"-"`
}

// Stream states, as the API shows them.
const (
	StreamActive  = "active"
	StreamPaused  = "paused"
	StreamFailing = "failing"
)

// State is the stream's state: paused, failing from its first failed
// attempt until its next acknowledged delivery, or else active.
func (s *Stream) State() string {
	switch {
	case s.Paused:
		return StreamPaused
	case !s.LastErrorAt.IsZero() && !s.LastErrorAt.Before(s.LastDeliveryAt):
		return StreamFailing
	}
	return StreamActive
}

// Selection is the filter the stream delivers, as ParseFilter reads it.
func (s *Stream) Selection() (Filter, error) {
	q, err := url.ParseQuery(s.Filter)
	if err != nil {
		return Filter{}, FieldErrorf("filter", "filter is not a query string: %v", err)
	}
	f, err := ParseFilter(q)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Field != "" {
			return Filter{}, FieldErrorf("filter", "filter: %s", e.Message)
		}
		return Filter{}, err
	}
	if f.Limit > 0 || f.BeforeID > 0 || f.AfterID > 0 {
		return Filter{}, FieldErrorf("filter", "filter selects activities; paging parameters (limit, cursor) have no place in it")
	}
	return f, nil
}

// NewStream is a stream to create.
type NewStream struct {
	Name   string
	Type   string
	URL    string
	Format string // "json" (default) or "ocsf"
	Filter string
	// Start is "now" (default: only activities recorded from now on),
	// "beginning", or the id of the first activity to deliver.
	Start     string
	BatchSize int // 1 to 1,000; 100 when 0
	Secret    string
	Subject   string
	CAPEM     string
}

// Stream formats.
const (
	StreamFormatJSON = "json"
	StreamFormatOCSF = "ocsf"
)

// Check validates ns against the activity types of the catalogue, fills
// its defaults, and returns the cursor its start means, given the id of
// the newest activity.
func (ns *NewStream) Check(newest int64, types []ActivityType) (cursor int64, err error) {
	if ns.Name, err = CheckName("name", ns.Name, MaxDisplayNameLen); err != nil {
		return 0, err
	}
	if ns.Format == "" {
		ns.Format = StreamFormatJSON
	}
	if ns.Format != StreamFormatJSON && ns.Format != StreamFormatOCSF {
		return 0, FieldErrorf("format", "format must be json or ocsf, not %q", ns.Format)
	}
	if ns.BatchSize == 0 {
		ns.BatchSize = 100
	}
	if ns.BatchSize < 1 || ns.BatchSize > MaxBatch {
		return 0, FieldErrorf("batch_size", "batch_size must be 1 to %d, not %d", MaxBatch, ns.BatchSize)
	}
	if err := ns.checkURL(); err != nil {
		return 0, err
	}
	s := Stream{Filter: ns.Filter}
	f, err := s.Selection()
	if err != nil {
		return 0, err
	}
	if err := f.CheckNames(types); err != nil {
		return 0, FieldErrorf("filter", "filter: %s", ErrorMessage(err))
	}
	switch ns.Start {
	case "", "now":
		return newest, nil
	case "beginning":
		return 0, nil
	}
	id, err := strconv.ParseInt(ns.Start, 10, 64)
	if err != nil || id < 1 {
		return 0, FieldErrorf("start", "start must be now, beginning or an activity id, not %q", ns.Start)
	}
	return id - 1, nil
}

// checkURL checks the destination's address and secret against its type.
func (ns *NewStream) checkURL() error {
	schemes := map[string][]string{"webhook": {"http", "https"}, "splunk_hec": {"http", "https"}, "syslog": {"tcp", "tls"}, "nats": {"nats"}}
	want, ok := schemes[ns.Type]
	if !ok {
		return FieldErrorf("type", "type must be webhook, syslog, nats or splunk_hec, not %q", ns.Type)
	}
	u, err := url.Parse(ns.URL)
	if err != nil || u.Host == "" || !slices.Contains(want, u.Scheme) {
		return FieldErrorf("url", "a %s stream's url starts with %s://, not %q", ns.Type, strings.Join(want, ":// or "), ns.URL)
	}
	if u.User != nil {
		return FieldErrorf("url", "url must not carry credentials: give them as the secret")
	}
	switch ns.Type {
	case "webhook":
		if _, err := WebhookSecretKey(ns.Secret); err != nil {
			return err
		}
	case "splunk_hec":
		if ns.Secret == "" {
			return FieldErrorf("secret", "a splunk_hec stream needs its HEC token as the secret")
		}
	default:
		if ns.Secret != "" {
			return FieldErrorf("secret", "a %s stream takes no secret", ns.Type)
		}
	}
	if ns.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(ns.CAPEM)) {
		return FieldErrorf("ca_pem", "ca_pem holds no PEM certificate")
	}
	if ns.Subject != "" && ns.Type != "nats" {
		return FieldErrorf("subject", "subject is for nats streams")
	}
	if ns.Type == "nats" && ns.Subject == "" {
		ns.Subject = "auditlog"
	}
	if ns.Type == "nats" {
		return CheckSubjectPrefix(ns.Subject)
	}
	return nil
}

// CheckSubjectPrefix refuses a NATS subject prefix that more tokens cannot
// follow: it must be non-empty tokens joined by dots, with no wildcard or
// space.
func CheckSubjectPrefix(p string) error {
	for _, token := range strings.Split(p, ".") {
		if token == "" || strings.ContainsAny(token, " \t\r\n*>") {
			return FieldErrorf("subject", "subject must be a NATS subject without wildcards or spaces, not %q", p)
		}
	}
	return nil
}

// GenerateSecret gives a webhook stream without a secret a new one.
func (ns *NewStream) GenerateSecret() {
	if ns.Type == "webhook" && ns.Secret == "" {
		ns.Secret = NewWebhookSecret()
	}
}

// NewWebhookSecret returns a webhook signing secret: "whsec_" and the
// base64 of 32 random bytes, as the Standard Webhooks specification has it.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookSecretKey returns the HMAC key of a webhook secret.
func WebhookSecretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) < 24 || len(key) > 64 {
		return nil, FieldErrorf("secret", "a webhook secret is whsec_ and the base64 of 24 to 64 random bytes")
	}
	return key, nil
}

// StreamLease is a node's hold on a stream: only the holder delivers it.
type StreamLease struct {
	Stream int64
	Node   string
	Until  time.Time
}

// StreamService keeps the streams: their configuration (changes are
// recorded as activities by whoever made them) and their delivery state.
type StreamService interface {
	// CreateStream creates a stream; its secret, if any, is ns.Secret
	// once Check has filled it in.
	CreateStream(ctx context.Context, by Actor, ns NewStream) (*Stream, error)
	Streams(ctx context.Context) ([]Stream, error)
	FindStream(ctx context.Context, id int64) (*Stream, error)
	// StreamSecret returns the secret a stream signs or authenticates with.
	StreamSecret(ctx context.Context, id int64) (string, error)
	PauseStream(ctx context.Context, by Actor, id int64, paused bool) (*Stream, error)
	// ReplayStream moves the cursor back, so that delivery starts again at
	// fromID.
	ReplayStream(ctx context.Context, by Actor, id, fromID int64) (*Stream, error)
	DeleteStream(ctx context.Context, by Actor, id int64) error

	// LeaseStream gives node the stream's lease until the given time, if
	// no other node holds it; it reports whether node holds it.
	LeaseStream(ctx context.Context, id int64, node string, until time.Time) (bool, error)
	// StreamDelivered moves the cursor from one id to another after an
	// acknowledged delivery of n activities, and extends node's lease to
	// until, if node holds the lease and the cursor is still at from (a
	// replay may have moved it); it reports whether it moved.
	StreamDelivered(ctx context.Context, id int64, node string, from, to int64, n int, until time.Time) (bool, error)
	// StreamFailed records a failed delivery attempt.
	StreamFailed(ctx context.Context, id int64, node string, reason string) error
}

// streamRef is the object of a stream's activities.
func streamRef(s *Stream) objectRef {
	return objectRef{ObjectTypeStream, strconv.FormatInt(s.ID, 10), s.Name}
}

func streamColumns(s *Stream) columns {
	return columns{{"name", s.Name}, {"type", s.Type}, {"url", s.URL}, {"format", s.Format}, {"filter", s.Filter},
		{"batch_size", strconv.Itoa(s.BatchSize)}, {"subject", s.Subject}, {"cursor", strconv.FormatInt(s.Cursor, 10)}}
}

// StreamCreated records the creation of a stream (its secret redacted).
func StreamCreated(by Actor, s *Stream, hasSecret bool) NewActivity {
	changes := changesBetween(nil, streamColumns(s))
	if hasSecret {
		changes = append(changes, Change{ColumnName: "secret", NewValue: Redacted})
	}
	return by.activity("CREATE_STREAM", "", streamRef(s), changes, nil)
}

// StreamPauseChanged records a pause or a resumption.
func StreamPauseChanged(by Actor, s *Stream) NewActivity {
	old, new := StreamPaused, StreamActive
	if s.Paused {
		old, new = StreamActive, StreamPaused
	}
	return by.activity("EDIT_STREAM", "", streamRef(s), []Change{{ColumnName: "state", OldValue: old, NewValue: new}}, nil)
}

// StreamReplayed records a replay: the cursor moved back.
func StreamReplayed(by Actor, s *Stream, oldCursor int64) NewActivity {
	return by.activity("REPLAY_STREAM", "", streamRef(s), []Change{{ColumnName: "cursor",
		OldValue: strconv.FormatInt(oldCursor, 10), NewValue: strconv.FormatInt(s.Cursor, 10)}}, nil)
}

// StreamDeleted records the deletion of a stream.
func StreamDeleted(by Actor, s *Stream) NewActivity {
	return by.activity("DELETE_STREAM", "", streamRef(s), nil, nil)
}
