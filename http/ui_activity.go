package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/auditlog/auditlog"
)

// The detail page of one activity: every field of the seed, extra as
// indented JSON, the object column changes, and whether the latest signed
// checkpoint covers it.

type activityPage struct {
	Activity *auditlog.Activity
	// Extra is the activity's extra, indented.
	Extra string
	// Checkpoint is the latest signed checkpoint, nil when none is signed yet.
	Checkpoint *auditlog.Checkpoint
	Included   bool
	// BackQuery is the audit log page's query, for the way back.
	BackQuery string
}

// BackURL is the audit log page that led here.
func (p activityPage) BackURL() string {
	if p.BackQuery == "" {
		return "/admin/audit-log"
	}
	return "/admin/audit-log?" + p.BackQuery
}

func (s *Server) handleActivityPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.failPage(w, r, auditlog.Errorf(auditlog.ENOTFOUND, "there is no activity %q: activity IDs are positive whole numbers", auditlog.Clip(r.PathValue("id"), 40)))
		return
	}
	a, err := s.store.FindActivityByID(ctx, id)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	page := activityPage{Activity: a, Extra: string(a.Extra)}
	var indented bytes.Buffer
	if err := json.Indent(&indented, a.Extra, "", "  "); err == nil {
		page.Extra = indented.String()
	}
	switch c, err := s.store.LatestCheckpoint(ctx); {
	case err == nil:
		page.Checkpoint = c
		page.Included = uint64(a.ID) <= c.Size
	case auditlog.ErrorCode(err) != auditlog.ENOTFOUND:
		s.failPage(w, r, err)
		return
	}
	// The way back keeps the audit log's filters when they are ones it reads.
	q := r.URL.Query()
	var position int64
	if _, err := parseAuditLogQuery(q, &position); err == nil {
		page.BackQuery = q.Encode()
	}
	s.render(w, r, http.StatusOK, "activity", pageView{Title: "Activity " + strconv.FormatInt(a.ID, 10), Tab: "audit-log", Page: page})
}
