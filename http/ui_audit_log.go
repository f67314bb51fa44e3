package http

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/auditlog/auditlog"
)

// The Audit Log tab: the activities that the filters in the page's URL
// select (the API's parameter names), newest first and paged, with their
// histogram over time and the CSV download.

// auditLogParams are the page's query parameters beyond the API's filters
// and paging: position is the number of the page's first row, for display.
var auditLogParams = append(slices.Clone(auditlog.PagingParams), "position")

// pageSizes are the page sizes the page offers.
var pageSizes = []int{25, 50, 100, 200}

type activityOption struct {
	SystemName, DisplayName string
	Selected                bool
}

type auditLogPage struct {
	// Filtered says the page is filtered (by the panel or the search box);
	// PanelFiltered that the filter panel's filters are in use, which
	// opens it.
	Filtered, PanelFiltered bool
	// Search is the search box's expression; SearchError says why it was
	// refused, next to the box; SearchLag that the index is behind.
	Search, SearchError, SearchLag string
	Activities                     []auditlog.Activity
	Options                        []activityOption
	// Chosen are the display names of the chosen activity names.
	Chosen []string
	// Usernames suggests usernames: the service's users and the page's.
	Usernames []string
	// The form's values, as the URL gives them.
	Operator                          string
	UsernameValues, IDValues          []string
	CreatedOn, CreatedFrom, CreatedTo string
	Limit                             int
	PageSizes                         []int
	// Position and LastPosition number the page's first and last rows;
	// Total counts every match.
	Position, LastPosition, Total int64
	NextURL, FirstURL             string
	// DetailQuery carries the page's query to the detail pages, for the
	// way back.
	DetailQuery string
	// FormFilters are the page's filters, which the page size form keeps.
	FormFilters   url.Values
	DownloadURL   string
	DownloadLabel string
	Histogram     *histogram
	// Refused says the filters were refused (the error says why): nothing
	// was looked up.
	Refused bool
}

// DetailURL is the detail page of the activity, which leads back here.
func (p *auditLogPage) DetailURL(id int64) string {
	u := "/admin/audit-log/" + strconv.FormatInt(id, 10)
	if p.DetailQuery != "" {
		u += "?" + p.DetailQuery
	}
	return u
}

func (s *Server) handleAuditLog(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	v := pageView{Title: "Audit Log", Tab: "audit-log"}
	page := auditLogPage{Limit: auditlog.DefaultLimit, PageSizes: pageSizes, Position: 1}
	v.Page = &page
	page.fillForm(q)
	types, err := s.store.ActivityTypes(ctx)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	selected := map[string]bool{}
	for _, a := range q["activity"] {
		selected[a] = true
	}
	for _, t := range types {
		page.Options = append(page.Options, activityOption{SystemName: t.SystemName, DisplayName: t.DisplayName, Selected: selected[t.SystemName]})
		if selected[t.SystemName] {
			page.Chosen = append(page.Chosen, t.DisplayName)
		}
	}

	f, err := parseAuditLogQuery(q, &page.Position)
	if err == nil {
		err = s.checkActivityNames(ctx, f)
	}
	if err != nil {
		// The panel stays open with what was typed (or the search box
		// explains its expression), and the page says the filter was
		// refused rather than that nothing matches it.
		page.Filtered, page.Refused = true, true
		var e *auditlog.Error
		if errors.As(err, &e) && e.Field == "q" {
			page.SearchError = e.Message
		} else {
			v.Error = auditlog.ErrorMessage(err)
			page.PanelFiltered = true
		}
		s.render(w, r, http.StatusBadRequest, "audit_log", v)
		return
	}
	v.Zone = f.Location()
	if q.Get("tz") == "" {
		v.Zone = viewerZone(r)
	}
	page.Limit = f.Limit
	page.Filtered = !f.IsZero()
	panel := f
	panel.Search = nil
	page.PanelFiltered = !panel.IsZero()
	acts, more, err := s.store.FindActivities(ctx, f)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	page.Activities = acts
	if f.Search != nil {
		st, err := s.store.SearchIndexed(ctx)
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		if !st.Complete() {
			page.SearchLag = fmt.Sprintf("The search index holds the activities up to %d; the %s after it are still being indexed, and this search does not see them yet.",
				st.Through, auditlog.CountOf(st.Newest-st.Through, "newest activity", "newest activities"))
		}
	}
	page.LastPosition = page.Position + int64(len(acts)) - 1

	filterNames := slices.Concat(auditlog.FilterParams, []string{"limit"})
	keep := givenValues(q, filterNames...)
	page.FirstURL = "/admin/audit-log?" + keep.Encode()
	if more {
		next := givenValues(q, filterNames...)
		next.Set("cursor", auditlog.EncodeCursor(acts[len(acts)-1].ID))
		next.Set("position", strconv.FormatInt(page.LastPosition+1, 10))
		page.NextURL = "/admin/audit-log?" + next.Encode()
	}
	page.DetailQuery = givenValues(q, slices.Concat(filterNames, auditLogParams)...).Encode()

	filters := givenValues(q, auditlog.FilterParams...)
	page.FormFilters = filters
	if principalFrom(ctx).Can(auditlog.PermActivitiesExport) {
		page.DownloadURL = "/api/v1/activities/export.csv?" + filters.Encode()
		page.DownloadLabel = "Download all activities"
		if page.Filtered {
			page.DownloadLabel = "Download filtered activities"
		}
	}

	if page.Histogram, err = s.buildHistogram(r, f, filters, v.Zone); err != nil {
		s.failPage(w, r, err)
		return
	}
	if page.Histogram != nil {
		page.Total = page.Histogram.Total
	}

	users, err := s.store.Users(ctx)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	seen := map[string]bool{"": true}
	for _, u := range users {
		if !seen[u.Username] {
			seen[u.Username] = true
			page.Usernames = append(page.Usernames, u.Username)
		}
	}
	for _, a := range acts {
		if !seen[a.Username] {
			seen[a.Username] = true
			page.Usernames = append(page.Usernames, a.Username)
		}
	}
	slices.Sort(page.Usernames)
	s.render(w, r, http.StatusOK, "audit_log", v)
}

// parseAuditLogQuery reads the page's filters, paging and position.
func parseAuditLogQuery(q url.Values, position *int64) (auditlog.Filter, error) {
	f, err := auditlog.ParseFilter(q, auditLogParams...)
	if err != nil {
		return f, err
	}
	if err := auditlog.ParsePaging(q, &f); err != nil {
		return f, err
	}
	if p := q.Get("position"); p != "" {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 {
			return f, auditlog.FieldErrorf("position", "position must be a whole number from 1 on, not %q", auditlog.Clip(p, 40))
		}
		*position = n
	}
	return f, nil
}

// fillForm copies the URL's filters into the form's fields.
func (p *auditLogPage) fillForm(q url.Values) {
	p.Search = q.Get("q")
	p.Operator = q.Get("operator")
	p.UsernameValues = atLeastOne(nonEmpty(q["username"]))
	p.IDValues = atLeastOne(nonEmpty(q["id"]))
	p.CreatedOn, p.CreatedFrom, p.CreatedTo = q.Get("created_on"), q.Get("created_from"), q.Get("created_to")
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func atLeastOne(vs []string) []string {
	if len(vs) == 0 {
		return []string{""}
	}
	return vs
}

// givenValues copies the non-empty values of q's named parameters.
func givenValues(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, name := range names {
		if vs := nonEmpty(q[name]); len(vs) > 0 {
			out[name] = vs
		}
	}
	return out
}
