package http

import (
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/export"
)

// handleExport streams every activity that the filters select, newest first,
// as CSV or JSON Lines. The export is recorded in the audit log before the
// first row is sent: an export that cannot be recorded does not happen.
func (s *Server) handleExport(format export.Format) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := s.checkSameOriginExport(r); err != nil {
			s.fail(w, r, err)
			return
		}
		f, err := auditlog.ParseFilter(r.URL.Query())
		if err == nil {
			err = s.checkActivityNames(ctx, f)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		name := export.FileName(format, !f.IsZero(), time.Now())
		if _, err := s.store.RecordActivities(ctx, auditlog.RecordedByService, []auditlog.NewActivity{export.Activity(format, f, s.actor(r), name)}); err != nil {
			s.fail(w, r, err)
			return
		}

		h := w.Header()
		h.Set("Content-Type", format.ContentType())
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		out := &sentWriter{w: w}
		err = export.Stream(ctx, s.store, format, f, s.verifierKey, out)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			// The client went away; the query stopped with it.
		case !out.sent:
			h.Del("Content-Disposition")
			s.fail(w, r, err)
		default:
			// Rows are out already: break the response off so that the
			// client sees an incomplete download, never a short file that
			// looks whole.
			s.log.ErrorContext(ctx, "export failed mid-stream", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// sentWriter remembers whether anything reached the client.
type sentWriter struct {
	w    io.Writer
	sent bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		s.sent = true
	}
	return s.w.Write(p)
}
