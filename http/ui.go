package http

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/auditlog/auditlog"
)

// The web UI: server-rendered pages on the API's mux, sharing its
// authentication (the session cookie), its policy (authorize) and its
// actor. Templates and static files are embedded in the binary, so that an
// offline installation needs nothing from the internet.

//go:embed ui/templates/*.html
var templateFiles embed.FS

//go:embed ui/static
var staticFiles embed.FS

// contentSecurityPolicy allows the pages the service's own styles, script
// and images, and nothing inline: an activity's text that slipped past the
// escaping still could not run.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBody bounds the body of a form the web UI posts.
const maxFormBody = 64 << 10

// pages holds one template per page, each with the shared layout.
type pages map[string]*template.Template

var templateFuncs = template.FuncMap{
	"visible": visible,
	"formatTime": func(t time.Time, loc *time.Location) string {
		return t.In(loc).Format("2006-01-02 15:04:05.000 MST")
	},
	"formatDate": func(t any, loc *time.Location) string {
		switch t := t.(type) {
		case time.Time:
			return t.In(loc).Format("2006-01-02 15:04 MST")
		case *time.Time:
			return t.In(loc).Format("2006-01-02 15:04 MST")
		}
		return ""
	},
	"count": formatCount,
	// plural is the noun that goes with n: "activity" for 1, else many.
	"plural": func(n any, one, many string) string {
		switch n := n.(type) {
		case int:
			if n == 1 {
				return one
			}
		case int64:
			if n == 1 {
				return one
			}
		case uint64:
			if n == 1 {
				return one
			}
		}
		return many
	},
	"has": slices.Contains[[]auditlog.Permission],
}

// formatCount writes n with thousands separators: 1,000,000.
func formatCount(n int64) string {
	digits := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + formatCount(-n)
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// parsePages parses every page template with the layout.
func parsePages() (pages, error) {
	names, err := fs.Glob(templateFiles, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := pages{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "ui/templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(templateFuncs).ParseFS(templateFiles, "ui/templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

// pageView is what the layout shows around every page.
type pageView struct {
	Title string
	// Tab is the Administration tab the page belongs to, "" for none.
	Tab       string
	Principal *auditlog.Principal
	// Zone is the time zone in which times are shown.
	Zone *time.Location
	// Error is a message to show above the page's content.
	Error string
	// Notice confirms what the last form did.
	Notice string
	Page   any
}

// Can reports whether the viewer holds a permission, for the navigation.
func (v pageView) Can(p string) bool { return v.Principal.Can(auditlog.Permission(p)) }

// render writes the named page with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v pageView) {
	if v.Principal == nil {
		v.Principal = principalFrom(r.Context())
	}
	if v.Zone == nil {
		v.Zone = viewerZone(r)
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// failPage answers err as an error page: the login form when the viewer is
// not logged in, otherwise a page that says what went wrong.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	code := auditlog.ErrorCode(err)
	if code == auditlog.EINTERNAL {
		s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := statusFor(err)
	if code == auditlog.EUNAUTHORIZED {
		s.renderLogin(w, r, status, "", "Log in to continue.")
		return
	}
	title := "Something went wrong"
	switch code {
	case auditlog.EFORBIDDEN:
		title = "Access denied"
	case auditlog.ENOTFOUND:
		title = "Not found"
	}
	s.render(w, r, status, "error", pageView{Title: title, Error: auditlog.ErrorMessage(err)})
}

// page registers a web UI page that requires perm. An unauthenticated
// viewer gets the login form, one without the permission an error page.
func (s *Server) page(pattern string, perm auditlog.Permission, h http.HandlerFunc) {
	s.routes = append(s.routes, routeInfo{pattern: pattern, perm: perm, ui: true})
	s.mux.HandleFunc(pattern, s.authorized(perm, h, s.failPage))
}

// publicPage registers a web UI page that needs no credentials.
func (s *Server) publicPage(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, routeInfo{pattern: pattern, public: true, ui: true})
	s.mux.HandleFunc(pattern, h)
}

// routeUI registers the web UI's pages.
func (s *Server) routeUI() {
	read, admin := auditlog.PermActivitiesRead, auditlog.PermAdmin
	s.publicPage("GET /{$}", s.handleHome)
	s.publicPage("POST /login", s.handleLoginForm)
	// The address a failed login leaves in the location bar, and the icon
	// browsers ask for on every page.
	s.publicPage("GET /login", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusSeeOther) })
	s.publicPage("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	s.publicPage("GET /static/", s.handleStatic)
	s.page("POST /logout", anyPermission, s.handleLogoutForm)
	s.page("GET /admin", anyPermission, s.handleAdministration)
	s.page("GET /admin/audit-log", read, s.handleAuditLog)
	s.page("GET /admin/audit-log/{id}", read, s.handleActivityPage)
	s.page("GET /admin/witnesses", read, s.handleWitnessesPage)
	s.page("GET /admin/streams", admin, s.handleStreamsPage)
	s.page("POST /admin/streams", admin, s.handleCreateStreamForm)
	s.page("POST /admin/streams/{id}/pause", admin, s.handlePauseStreamForm(true, "stream-paused"))
	s.page("POST /admin/streams/{id}/resume", admin, s.handlePauseStreamForm(false, "stream-resumed"))
	s.page("POST /admin/streams/{id}/replay", admin, s.handleReplayStreamForm())
	s.page("POST /admin/streams/{id}/delete", admin, s.handleDeleteStreamForm())
	s.page("GET /admin/users", admin, s.handleUsersPage)
	s.page("POST /admin/users", admin, s.handleCreateUserForm)
	s.page("POST /admin/users/{username}", admin, s.handleEditUserForm)
	s.page("POST /admin/users/{username}/delete", admin, s.handleDeleteUserForm)
	s.page("POST /admin/users/{username}/restore", admin, s.handleRestoreUserForm)
	s.page("GET /admin/groups", admin, s.handleGroupsPage)
	s.page("POST /admin/groups", admin, s.handleCreateGroupForm)
	s.page("POST /admin/groups/{name}", admin, s.handleEditGroupForm)
	s.page("POST /admin/groups/{name}/delete", admin, s.handleDeleteGroupForm)
	s.page("GET /admin/tokens", admin, s.handleTokensPage)
	s.page("POST /admin/tokens", admin, s.handleCreateTokenForm)
	s.page("POST /admin/tokens/{id}/revoke", admin, s.handleRevokeTokenForm)
	s.page("POST /admin/tokens/{id}/reset", admin, s.handleResetTokenForm)
	s.page("GET /admin/sessions", admin, s.handleSessionsPage)
	s.page("GET /admin/activity-types", admin, s.handleActivityTypesPage)
	s.page("POST /admin/activity-types", admin, s.handleCreateActivityTypeForm)
	s.page("POST /admin/sessions/{id}/end", admin, s.handleEndSessionsForm)
	s.page("POST /admin/users/{username}/sessions/end", admin, s.handleEndSessionsForm)
}

// handleStatic serves the embedded styles and script; they change only
// with the binary.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r) // no listings of the directory
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	sub, _ := fs.Sub(staticFiles, "ui")
	http.FileServerFS(sub).ServeHTTP(w, r)
}

// viewer returns the principal behind the request's credentials, or nil
// when it has none that are valid.
func (s *Server) viewer(r *http.Request) *auditlog.Principal {
	if _, err := r.Cookie(SessionCookie); err != nil && r.Header.Get("Authorization") == "" {
		return nil
	}
	p, err := s.authenticate(r)
	if err != nil {
		return nil
	}
	return p
}

// handleHome is the login form, or, for a logged-in viewer, the first
// Administration tab they may see.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	if p := s.viewer(r); p != nil {
		http.Redirect(w, r, firstTab(p), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", "")
}

// handleAdministration leads to the first tab the viewer may see.
func (s *Server) handleAdministration(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if tab := firstTab(p); tab != "/admin" {
		http.Redirect(w, r, tab, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "error", pageView{Title: "Administration",
		Error: "Your permission group grants none of the Administration pages. Ask a System Admin for access."})
}

// firstTab is the first Administration tab p may see, or /admin for none.
func firstTab(p *auditlog.Principal) string {
	switch {
	case p.Can(auditlog.PermActivitiesRead):
		return "/admin/audit-log"
	case p.Can(auditlog.PermAdmin):
		return "/admin/users"
	}
	return "/admin"
}

type loginPage struct {
	Username string
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, username, message string) {
	s.render(w, r, status, "login", pageView{Title: "Log in", Error: message, Page: loginPage{Username: username}})
}

// parseForm reads a posted form of at most maxFormBody bytes from the
// service's own origin.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkSameOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return auditlog.Errorf(auditlog.ETOOLARGE, "form over the limit of %d bytes", maxFormBody)
		}
		return auditlog.FieldErrorf("body", "the form could not be read")
	}
	return nil
}

// handleLoginForm logs in from the login form, as POST /api/v1/session does.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderLogin(w, r, statusFor(err), "", auditlog.ErrorMessage(err))
		return
	}
	in := loginRequest{Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password")}
	_, _, err := s.login(w, r, in)
	if err != nil {
		s.renderLogin(w, r, statusFor(err), in.Username, auditlog.ErrorMessage(err))
		return
	}
	// The home page leads on to the first tab the new session may see.
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogoutForm ends the session and returns to the login form.
func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.failPage(w, r, err)
		return
	}
	if err := s.logout(w, r); err != nil {
		s.failPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// ZoneCookie holds the viewer's time zone, which the page's script reads
// from the browser.
const ZoneCookie = "tz"

// viewerZone is the zone in which r's viewer sees times: the tz filter of
// the page, else the browser's zone from its cookie, else UTC.
func viewerZone(r *http.Request) *time.Location {
	for _, tz := range []string{r.URL.Query().Get("tz"), cookieValue(r, ZoneCookie)} {
		if tz == "" {
			continue
		}
		if f, err := auditlog.ParseFilter(url.Values{"tz": {tz}}); err == nil {
			return f.Location()
		}
	}
	return time.UTC
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return v
}

// visible is s as HTML, with each invisible or direction-changing
// character (controls but tab and line breaks, format characters such as
// U+200B, bidirectional controls such as U+202E) shown as <U+XXXX>, so
// that recorded text can neither hide nor reorder what is around it.
func visible(s string) template.HTML {
	var b strings.Builder
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != '\t' && r != '\n' && r != '\r' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || auditlog.IsBidiControl(r)) {
			b.WriteString(template.HTMLEscapeString(s[start:i]))
			fmt.Fprintf(&b, `<span class="invisible">&lt;U+%04X&gt;</span>`, r)
			start = i + size
		}
		i += size
	}
	b.WriteString(template.HTMLEscapeString(s[start:]))
	return template.HTML(b.String())
}
