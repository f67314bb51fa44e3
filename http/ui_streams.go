package http

import (
	"net/http"
	"strconv"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/stream"
)

// streamsPage is the Streams tab: each stream with its health, the form
// that creates one, and the secret of the one just created, shown once.
type streamsPage struct {
	Streams []streamJSON
	Created *streamJSON
	Secret  string
	Types   []string
}

func (s *Server) handleStreamsPage(w http.ResponseWriter, r *http.Request) {
	s.renderStreams(w, r, streamsPage{}, nil)
}

func (s *Server) renderStreams(w http.ResponseWriter, r *http.Request, page streamsPage, formErr error) {
	streams, err := s.store.Streams(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	for i := range streams {
		v, err := s.streamView(r.Context(), &streams[i])
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		page.Streams = append(page.Streams, v)
	}
	page.Types = []string{stream.TypeWebhook, stream.TypeSyslog, stream.TypeNATS, stream.TypeSplunkHEC}
	v := adminView(r, "Streams", "streams", formErr)
	v.Page = page
	s.render(w, r, formStatus(formErr), "streams", v)
}

// handleCreateStreamForm creates a stream and shows its secret once: the
// answer is the page itself, never a redirect that a reload could repeat.
func (s *Server) handleCreateStreamForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderStreams(w, r, streamsPage{}, err)
		return
	}
	f := r.PostForm
	ns := auditlog.NewStream{Name: f.Get("name"), Type: f.Get("type"), URL: f.Get("url"), Format: f.Get("format"),
		Filter: f.Get("filter"), Start: f.Get("start"), Secret: f.Get("secret"), Subject: f.Get("subject"), CAPEM: f.Get("ca_pem")}
	if b := f.Get("batch_size"); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil {
			s.renderStreams(w, r, streamsPage{}, auditlog.FieldErrorf("batch_size", "batch_size must be a whole number"))
			return
		}
		ns.BatchSize = n
	}
	st, secret, err := s.createStream(r, ns)
	if err != nil {
		s.renderStreams(w, r, streamsPage{}, err)
		return
	}
	v, err := s.streamView(r.Context(), st)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderStreams(w, r, streamsPage{Created: &v, Secret: secret}, nil)
}

// streamForm is a form that changes one stream, then goes back to the tab
// with a confirmation.
func (s *Server) streamForm(notice string, change func(r *http.Request, id int64) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.parseForm(w, r); err != nil {
			s.renderStreams(w, r, streamsPage{}, err)
			return
		}
		id, err := pathID(r)
		if err == nil {
			err = change(r, id)
		}
		if err != nil {
			s.renderStreams(w, r, streamsPage{}, err)
			return
		}
		done(w, r, "/admin/streams", notice)
	}
}

func (s *Server) handlePauseStreamForm(paused bool, notice string) http.HandlerFunc {
	return s.streamForm(notice, func(r *http.Request, id int64) error {
		_, err := s.store.PauseStream(r.Context(), s.actor(r), id, paused)
		return err
	})
}

func (s *Server) handleReplayStreamForm() http.HandlerFunc {
	return s.streamForm("stream-replayed", func(r *http.Request, id int64) error {
		from, err := strconv.ParseInt(r.PostForm.Get("from_id"), 10, 64)
		if err != nil {
			return auditlog.FieldErrorf("from_id", "from_id must be an activity id")
		}
		_, err = s.store.ReplayStream(r.Context(), s.actor(r), id, from)
		return err
	})
}

func (s *Server) handleDeleteStreamForm() http.HandlerFunc {
	return s.streamForm("stream-deleted", func(r *http.Request, id int64) error {
		return s.store.DeleteStream(r.Context(), s.actor(r), id)
	})
}
