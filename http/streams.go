package http

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

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
	v.Lag = lag
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
	if err := stream.Check(ns); err != nil {
		s.fail(w, r, err)
		return
	}
	st, secret, err := s.createStream(r, ns)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.streamView(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Stream streamJSON `json:"stream"`
		Secret string     `json:"secret,omitempty"`
	}{v, secret})
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

// writeStream answers with one stream.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, st *auditlog.Stream, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.streamView(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Stream streamJSON `json:"stream"`
	}{v})
}

func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.FindStream(r.Context(), id)
	s.writeStream(w, r, st, err)
}

func (s *Server) handlePauseStream(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st, err := s.store.PauseStream(r.Context(), s.actor(r), id, paused)
		s.writeStream(w, r, st, err)
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
	s.writeStream(w, r, st, err)
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
