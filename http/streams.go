package http

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/stream"
)

// newStreamRequest is the body of POST /api/v1/streams.
type newStreamRequest struct {
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	URL       string          `json:"url"`
	Format    string          `json:"format"`
	Filter    string          `json:"filter"`
	Start     json.RawMessage `json:"start"` // "now", "beginning" or an id
	BatchSize int             `json:"batch_size"`
	Secret    string          `json:"secret"`
	Subject   string          `json:"subject"`
	CAPEM     string          `json:"ca_pem"`
}

// streamJSON is a stream with its health, as the API returns it.
type streamJSON struct {
	auditlog.Stream
	State          string  `json:"state"`
	Lag            int64   `json:"lag"`
	LagSeconds     float64 `json:"lag_seconds"`
	LastDeliveryAt *string `json:"last_delivery_at"`
	LastErrorAt    *string `json:"last_error_at"`
	CreatedAt      string  `json:"created_at"`
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// streamView is a stream with its lag: the matching activities after its
// cursor.
func (s *Server) streamView(ctx context.Context, st *auditlog.Stream) (streamJSON, error) {
	v := streamJSON{Stream: *st, State: st.State(), LastDeliveryAt: timeOrNil(st.LastDeliveryAt),
		LastErrorAt: timeOrNil(st.LastErrorAt), CreatedAt: st.Created.UTC().Format(time.RFC3339Nano)}
	lag, err := stream.Lag(ctx, s.store, st)
	v.Lag, v.LagSeconds = lag.Activities, math.Round(lag.Seconds(s.now())*1000)/1000
	return v, err
}

func (s *Server) handleCreateStream(w http.ResponseWriter, r *http.Request) {
	var in newStreamRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	ns := auditlog.NewStream{Name: in.Name, Type: in.Type, URL: in.URL, Format: in.Format, Filter: in.Filter,
		BatchSize: in.BatchSize, Secret: in.Secret, Subject: in.Subject, CAPEM: in.CAPEM}
	if len(in.Start) > 0 && json.Unmarshal(in.Start, &ns.Start) != nil {
		ns.Start = string(in.Start) // an id, which Check reads
	}
	st, secret, err := s.createStream(r, ns)
	s.writeStream(w, r, http.StatusCreated, st, secret, err)
}

// createStream creates a stream and returns its secret (generated for a
// webhook that has none).
func (s *Server) createStream(r *http.Request, ns auditlog.NewStream) (*auditlog.Stream, string, error) {
	ns.GenerateSecret()
	st, err := s.store.CreateStream(r.Context(), s.actor(r), ns)
	return st, ns.Secret, err
}

func (s *Server) handleListStreams(w http.ResponseWriter, r *http.Request) {
	streams, err := s.store.Streams(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]streamJSON, 0, len(streams))
	for i := range streams {
		v, err := s.streamView(r.Context(), &streams[i])
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, struct {
		Streams []streamJSON `json:"streams"`
	}{out})
}

// writeStream answers with one stream (and its secret, when just created),
// or with err.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, status int, st *auditlog.Stream, secret string, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.streamView(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, struct {
		Stream streamJSON `json:"stream"`
		Secret string     `json:"secret,omitempty"`
	}{v, secret})
}

func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.FindStream(r.Context(), id)
	s.writeStream(w, r, http.StatusOK, st, "", err)
}

func (s *Server) handlePauseStream(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st, err := s.store.PauseStream(r.Context(), s.actor(r), id, paused)
		s.writeStream(w, r, http.StatusOK, st, "", err)
	}
}

func (s *Server) handleReplayStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		FromID *int64 `json:"from_id"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.FromID == nil {
		s.fail(w, r, auditlog.FieldErrorf("from_id", "from_id is required: the first activity to deliver again"))
		return
	}
	st, err := s.store.ReplayStream(r.Context(), s.actor(r), id, *in.FromID)
	s.writeStream(w, r, http.StatusOK, st, "", err)
}

func (s *Server) handleDeleteStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteStream(r.Context(), s.actor(r), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// streamCollector reports each stream's health to /metrics.
type streamCollector struct {
	store                                    auditlog.Store
	lag, lagSeconds, failing, delivered, cur *prometheus.Desc
}

func newStreamCollector(store auditlog.Store) *streamCollector {
	label := []string{"stream"}
	return &streamCollector{store: store,
		lag:        prometheus.NewDesc("auditlog_stream_lag", "Activities the stream matches and has not delivered yet.", label, nil),
		lagSeconds: prometheus.NewDesc("auditlog_stream_lag_seconds", "How long the oldest activity the stream has not delivered has waited.", label, nil),
		failing:    prometheus.NewDesc("auditlog_stream_failing", "1 from a stream's failed delivery attempt to its next acknowledged delivery.", label, nil),
		delivered:  prometheus.NewDesc("auditlog_stream_delivered_total", "Activities the stream's destination acknowledged.", label, nil),
		cur:        prometheus.NewDesc("auditlog_stream_cursor", "The id of the last activity the stream delivered.", label, nil),
	}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.lagSeconds
	ch <- c.failing
	ch <- c.delivered
	ch <- c.cur
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	streams, err := c.store.Streams(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lag, err)
		return
	}
	for i := range streams {
		st := &streams[i]
		lag, err := stream.Lag(ctx, c.store, st)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.lag, err)
			continue
		}
		failing := 0.0
		if st.State() == auditlog.StreamFailing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag.Activities), st.Name)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, lag.Seconds(time.Now()), st.Name)
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing, st.Name)
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered), st.Name)
		ch <- prometheus.MustNewConstMetric(c.cur, prometheus.GaugeValue, float64(st.Cursor), st.Name)
	}
}
