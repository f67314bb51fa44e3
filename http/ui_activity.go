package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
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
	// Verified says that the activity as shown is the leaf the checkpoint
	// commits to (its inclusion proof checks out); VerifyError says why
	// not.
	Verified    bool
	VerifyError string
	// Refused says why nothing is verified: the stored tree does not
	// extend what the service signed.
	Refused string
	// BackQuery is the audit log page's query, for the way back.
	BackQuery string
	// NewerURL and OlderURL are the pages of the next newer and older
	// activity that the audit log page's filters select; "" at an end.
	NewerURL, OlderURL string
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
	switch c, err := s.trustedCheckpoint(ctx); {
	case err == nil && c == nil:
	case err == nil:
		page.Checkpoint = c
		page.Included = uint64(a.ID) <= c.Size
		if page.Included {
			if err := s.verifyInclusion(r, a, c); err != nil {
				page.VerifyError = err.Error()
			} else {
				page.Verified = true
			}
		}
	case errors.Is(err, errRefused):
		page.Refused = err.Error()
	case auditlog.ErrorCode(err) != auditlog.ENOTFOUND:
		s.failPage(w, r, err)
		return
	}
	// The way back keeps the audit log's filters when they are ones it
	// reads, and so do the ways to the neighbours.
	q := r.URL.Query()
	var position int64
	f, err := parseAuditLogQuery(q, &position)
	if err == nil {
		page.BackQuery = q.Encode()
	} else {
		f = auditlog.Filter{}
	}
	if page.NewerURL, page.OlderURL, err = s.neighbours(ctx, f, a.ID, page.BackQuery); err != nil {
		s.failPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "activity", pageView{Title: "Activity " + strconv.FormatInt(a.ID, 10), Tab: "audit-log", Page: page})
}

// neighbours returns the detail pages of the activities next to id, newer
// and older, among those f selects, carrying query.
func (s *Server) neighbours(ctx context.Context, f auditlog.Filter, id int64, query string) (newer, older string, err error) {
	url := func(acts []auditlog.Activity) string {
		if len(acts) == 0 {
			return ""
		}
		u := "/admin/audit-log/" + strconv.FormatInt(acts[0].ID, 10)
		if query != "" {
			u += "?" + query
		}
		return u
	}
	f.Limit, f.BeforeID, f.AfterID, f.OldestFirst = 1, 0, id, true
	acts, _, err := s.store.FindActivities(ctx, f)
	if err != nil {
		return "", "", err
	}
	newer = url(acts)
	f.BeforeID, f.AfterID, f.OldestFirst = id, 0, false
	if acts, _, err = s.store.FindActivities(ctx, f); err != nil {
		return "", "", err
	}
	return newer, url(acts), nil
}

// errRefused marks the error of trustedCheckpoint when the stored tree
// does not extend what was signed.
var errRefused = errors.New("the service refuses this store")

// trustedCheckpoint is the checkpoint the UI verifies against: the one
// the checkpointer last checked the stored tree against, or else the
// store's latest; nil when none is signed yet.
func (s *Server) trustedCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error) {
	if s.trustedCP == nil {
		c, err := s.store.LatestCheckpoint(ctx)
		if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
			return nil, nil
		}
		return c, err
	}
	c, err := s.trustedCP()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	return c, nil
}

// verifyInclusion checks that a, as the store returns it, is the leaf that
// the checkpoint's tree holds at its index.
func (s *Server) verifyInclusion(r *http.Request, a *auditlog.Activity, c *auditlog.Checkpoint) error {
	leaf, err := tlog.ActivityLeafHash(a)
	if err != nil {
		return fmt.Errorf("its leaf cannot be computed: %w", err)
	}
	index := uint64(a.ID - 1)
	hashes, err := tlog.InclusionProof(index, c.Size, s.fetchNodes(r))
	if err != nil {
		return fmt.Errorf("its inclusion proof cannot be read: %w", err)
	}
	if err := tlog.VerifyInclusion(index, c.Size, leaf, hashes, c.Root); err != nil {
		return fmt.Errorf("it does not match its leaf in the signed tree: it was altered after it was recorded")
	}
	return nil
}
