// Package client is the Go client of an auditlog service, for applications
// that record activities and for auditors who check them. It depends on
// the standard library only.
//
// A Client makes one typed call per endpoint of the HTTP API (Record, List,
// Get, Export, ActivityTypes, Checkpoint, Proof, Consistency);
// VerifyActivity and Verifier check what the server returns against the
// checkpoints it signed; an Emitter records in the background, batching,
// retrying and, with a spool directory, surviving crashes; Middleware fills
// the actor and request details of activities recorded by HTTP handlers.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Operators of an activity.
const (
	Human   = "human"
	Machine = "machine"
)

// Activity is an activity to record, as a producer sends it. Username is
// required for a human operator and empty for a machine. EventID, a UUID,
// makes recording idempotent: the same EventID from the same token records
// once (the Emitter sets one on every activity).
type Activity struct {
	SystemName        string         `json:"activity_system_name"`
	SubtypeSystemName string         `json:"activity_subtype_system_name,omitempty"`
	Operator          string         `json:"operator"`
	Username          string         `json:"username,omitempty"`
	Extra             map[string]any `json:"extra,omitempty"`
	ObjectID          string         `json:"object_id,omitempty"`
	ObjectType        string         `json:"object_type,omitempty"`
	ObjectName        string         `json:"object_name,omitempty"`
	Changes           []Change       `json:"object_column_changes,omitempty"`
	EventID           string         `json:"event_id,omitempty"`
}

// Change is one column of the activity's object that changed.
type Change struct {
	ColumnName string `json:"column_name"`
	OldValue   string `json:"old_value"`
	NewValue   string `json:"new_value"`
}

// RecordedActivity is an activity as the server returns it.
type RecordedActivity struct {
	ID                 int64           `json:"id"`
	Created            time.Time       `json:"created"`
	Operator           string          `json:"operator"`
	Username           string          `json:"username"`
	DisplayName        string          `json:"activity_display_name"`
	SystemName         string          `json:"activity_system_name"`
	SubtypeDisplayName string          `json:"activity_subtype_display_name"`
	SubtypeSystemName  string          `json:"activity_subtype_system_name"`
	Extra              json.RawMessage `json:"extra"`
	ObjectID           string          `json:"object_id"`
	ObjectType         string          `json:"object_type"`
	ObjectName         string          `json:"object_name"`
	Changes            []Change        `json:"object_column_changes"`
	// RecordedBy is who recorded it: "auditlog", "token/<id>" or
	// "user/<name>" ("" for activities recorded before it was kept).
	RecordedBy string `json:"recorded_by"`
}

// ActivityType is an entry of the server's catalogue.
type ActivityType struct {
	SystemName   string    `json:"system_name"`
	DisplayName  string    `json:"display_name"`
	Description  string    `json:"description"`
	IntroducedIn string    `json:"introduced_in"`
	Subtypes     []Subtype `json:"subtypes"`
}

// Subtype is a subtype of an activity type.
type Subtype struct {
	SystemName  string `json:"system_name"`
	DisplayName string `json:"display_name"`
}

// Filter selects activities, as the list endpoint's parameters do: fields
// combine with AND, the values of one field with OR. Dates are dates,
// RFC 3339 timestamps or local times such as 2026-11-20T09:30, read in TZ.
type Filter struct {
	Activities  []string // activity system names
	Operators   []string
	Usernames   []string
	IDs         []int64
	ObjectTypes []string
	ObjectIDs   []string
	CreatedOn   string
	CreatedFrom string
	CreatedTo   string
	TZ          string // an IANA zone; UTC when empty
	Q           string // a search expression (the contract's "Search")
}

func (f Filter) values() url.Values {
	v := url.Values{}
	add := func(key string, values []string) {
		for _, s := range values {
			v.Add(key, s)
		}
	}
	add("activity", f.Activities)
	add("operator", f.Operators)
	add("username", f.Usernames)
	for _, id := range f.IDs {
		v.Add("id", strconv.FormatInt(id, 10))
	}
	add("object_type", f.ObjectTypes)
	add("object_id", f.ObjectIDs)
	for key, s := range map[string]string{"created_on": f.CreatedOn, "created_from": f.CreatedFrom, "created_to": f.CreatedTo, "tz": f.TZ, "q": f.Q} {
		if s != "" {
			v.Set(key, s)
		}
	}
	return v
}

// Error is the server's answer to a request it refused.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code, Message and Field are the server's error body: Field names the
	// field at fault, such as "activities[3].username".
	Code, Message, Field string
	// Index is the position in a batch of the activity at fault, or -1.
	Index int
	// RetryAfter is the wait the server asked for (429, 503), or 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("auditlog: %d %s: %s", e.StatusCode, e.Code, e.Message)
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	return msg
}

// Temporary reports whether the request may succeed if sent again: 429,
// 5xx and 408. No other 4xx ever does.
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// Config configures a Client.
type Config struct {
	// URL is the service's address, such as https://audit.example.
	URL string
	// Token is an API token (Authorization: Bearer).
	Token string
	// HTTPClient makes the requests; when nil, one with a 60 s timeout
	// that keeps up to 32 idle connections to the service. Give an
	// emitter's client as many idle connections as its Concurrency.
	HTTPClient *http.Client
	// UserAgent is sent with every request; "auditlog-go-client" when empty.
	UserAgent string
}

// Client calls one auditlog service. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	agent string
}

// New returns a client of the service at cfg.URL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auditlog: Config.URL must be an http:// or https:// address, not %q", cfg.URL)
	}
	c := &Client{base: u, token: cfg.Token, http: cfg.HTTPClient, agent: cfg.UserAgent}
	if c.http == nil {
		// The default transport keeps two idle connections per host: an
		// emitter with more batches in flight would reconnect for each.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		c.http = &http.Client{Timeout: time.Minute, Transport: t}
	}
	if c.agent == "" {
		c.agent = "auditlog-go-client"
	}
	return c, nil
}

// Record records activities in one request (at most 1,000) and returns
// their ids in order, once they are durable. The batch is all-or-nothing:
// an *Error names the field and Index of the activity at fault.
func (c *Client) Record(ctx context.Context, activities ...Activity) ([]int64, error) {
	if len(activities) == 0 {
		return nil, errors.New("auditlog: Record needs at least one activity")
	}
	body, err := json.Marshal(struct {
		Activities []Activity `json:"activities"`
	}{activities})
	if err != nil {
		return nil, fmt.Errorf("auditlog: encoding the activities: %w", err)
	}
	return c.recordBody(ctx, body)
}

// recordBody posts an encoded batch.
func (c *Client) recordBody(ctx context.Context, body []byte) ([]int64, error) {
	var out struct {
		IDs []int64 `json:"ids"`
	}
	if err := c.callJSON(ctx, "POST", "/api/v1/activities", nil, body, &out); err != nil {
		return nil, err
	}
	return out.IDs, nil
}

// Get returns one activity.
func (c *Client) Get(ctx context.Context, id int64) (RecordedActivity, error) {
	var a RecordedActivity
	err := c.callJSON(ctx, "GET", "/api/v1/activities/"+strconv.FormatInt(id, 10), nil, nil, &a)
	return a, err
}

// List returns the activities that match f, newest first, fetching pages
// of pageSize (50 when 0, at most 1,000) as the iteration goes. An error
// ends the iteration.
func (c *Client) List(ctx context.Context, f Filter, pageSize int) iter.Seq2[RecordedActivity, error] {
	return func(yield func(RecordedActivity, error) bool) {
		q := f.values()
		if pageSize > 0 {
			q.Set("limit", strconv.Itoa(pageSize))
		}
		for {
			var page struct {
				Activities []RecordedActivity `json:"activities"`
				NextCursor *string            `json:"next_cursor"`
			}
			if err := c.callJSON(ctx, "GET", "/api/v1/activities", q, nil, &page); err != nil {
				yield(RecordedActivity{}, err)
				return
			}
			for _, a := range page.Activities {
				if !yield(a, nil) {
					return
				}
			}
			if page.NextCursor == nil {
				return
			}
			q.Set("cursor", *page.NextCursor)
		}
	}
}

// Export formats.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Export streams the activities that match f as CSV or JSONL (one
// activity per line); the caller closes the stream. It needs the
// activities:export scope.
func (c *Client) Export(ctx context.Context, f Filter, format string) (io.ReadCloser, error) {
	if format != CSV && format != JSONL {
		return nil, fmt.Errorf("auditlog: export format %q: want client.CSV or client.JSONL", format)
	}
	resp, err := c.do(ctx, "GET", "/api/v1/activities/export."+format, f.values(), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ActivityTypes returns the server's catalogue.
func (c *Client) ActivityTypes(ctx context.Context) ([]ActivityType, error) {
	var out struct {
		Types []ActivityType `json:"activity_types"`
	}
	err := c.callJSON(ctx, "GET", "/api/v1/activity-types", nil, nil, &out)
	return out.Types, err
}

// Checkpoint returns the latest signed checkpoint, unverified: a signed
// note (see Verifier to check it).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.callBytes(ctx, "/api/v1/checkpoint", nil)
}

// VerifierKey returns the key the server says it signs with. A verifier
// must obtain the key through a channel it trusts, not from the server it
// checks; this is for setting that channel up.
func (c *Client) VerifierKey(ctx context.Context) (string, error) {
	b, err := c.callBytes(ctx, "/api/v1/checkpoint/key", nil)
	return strings.TrimSpace(string(b)), err
}

// InclusionProof is the proof that an activity's leaf is in a tree.
type InclusionProof struct {
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	LeafHash  []byte   `json:"leaf_hash"`
	Hashes    [][]byte `json:"hashes"`
}

// Proof returns the inclusion proof of activity id in the tree of
// treeSize (the latest checkpoint's when 0), unverified.
func (c *Client) Proof(ctx context.Context, id int64, treeSize uint64) (InclusionProof, error) {
	var q url.Values
	if treeSize > 0 {
		q = url.Values{"tree_size": {strconv.FormatUint(treeSize, 10)}}
	}
	var p InclusionProof
	err := c.callJSON(ctx, "GET", "/api/v1/activities/"+strconv.FormatInt(id, 10)+"/proof", q, nil, &p)
	return p, err
}

// Consistency returns the consistency proof between the trees of sizes
// from and to, unverified.
func (c *Client) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	var out struct {
		Hashes [][]byte `json:"hashes"`
	}
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	err := c.callJSON(ctx, "GET", "/api/v1/consistency", q, nil, &out)
	return out.Hashes, err
}

// callJSON makes a request and decodes its JSON answer into out.
func (c *Client) callJSON(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	resp, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("auditlog: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// callBytes makes a GET request and returns its whole answer.
func (c *Client) callBytes(ctx context.Context, path string, q url.Values) ([]byte, error) {
	resp, err := c.do(ctx, "GET", path, q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("auditlog: GET %s: %w", path, err)
	}
	return b, nil
}

// do makes a request; an answer that is not 2xx becomes an *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, responseError(resp)
}

// responseError reads the contract's error body of a refused request.
func responseError(resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, Index: -1, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
			Index   *int   `json:"index"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		if body.Error.Index != nil {
			e.Index = *body.Error.Index
		}
		return e
	}
	e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(resp.StatusCode)), " ", "_")
	e.Message = strings.TrimSpace(string(raw))
	if e.Message == "" {
		e.Message = resp.Status
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}
