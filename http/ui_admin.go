package http

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// The Users, Permission Groups, API Tokens, Sessions and Activity Types tabs. Their forms call the
// same checks and store methods as the administration API, so every change
// is recorded in the audit log as the viewer's.

// notices are the confirmations a form's redirect may ask for (?done=),
// fixed texts so that a link cannot put words on the page.
var notices = map[string]string{
	"user-created":    "The user was created.",
	"user-changed":    "The user was changed.",
	"user-deleted":    "The user was deleted: their sessions ended and their tokens stopped working.",
	"user-restored":   "The user was restored.",
	"group-created":   "The permission group was created.",
	"type-created":    "The activity type was registered.",
	"group-changed":   "The permission group's permissions were saved.",
	"token-revoked":   "The token was revoked.",
	"stream-paused":   "The stream was paused.",
	"stream-resumed":  "The stream was resumed: it delivers on from its cursor.",
	"stream-replayed": "The stream delivers again from the activity given.",
	"stream-deleted":  "The stream was deleted.",
	"group-deleted":   "The permission group was deleted.",
	"sessions-ended":  "The sessions were ended.",
}

// done redirects to the page at path with the confirmation of code.
func done(w http.ResponseWriter, r *http.Request, path, code string) {
	http.Redirect(w, r, path+"?"+url.Values{"done": {code}}.Encode(), http.StatusSeeOther)
}

// adminView is the view of an administration tab, with the confirmation
// the URL asks for and the error of a refused form.
func adminView(r *http.Request, title, tab string, err error) pageView {
	v := pageView{Title: title, Tab: tab, Notice: notices[r.URL.Query().Get("done")]}
	if err != nil {
		v.Error, v.Notice = auditlog.ErrorMessage(err), ""
	}
	return v
}

// formStatus is the status of a page answering a form: 200, or the
// status of the error that refused it.
func formStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return statusFor(err)
}

type usersPage struct {
	Users  []auditlog.User
	Groups []auditlog.Group
	// MinPassword is the shortest password a user may have.
	MinPassword int
}

func (s *Server) handleUsersPage(w http.ResponseWriter, r *http.Request) { s.renderUsers(w, r, nil) }

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, formErr error) {
	users, err := s.store.Users(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	groups, err := s.store.Groups(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	v := adminView(r, "Users", "users", formErr)
	v.Page = usersPage{Users: users, Groups: groups, MinPassword: password.MinLength}
	s.render(w, r, formStatus(formErr), "users", v)
}

func (s *Server) handleCreateUserForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	f := r.PostForm
	if _, err := s.createUser(r, newUserRequest{Username: f.Get("username"), Group: f.Get("group"), Password: f.Get("password")}); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	done(w, r, "/admin/users", "user-created")
}

// handleEditUserForm moves a user to another group, or disables or
// enables them.
func (s *Server) handleEditUserForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	var ch auditlog.UserChange
	if g := r.PostForm.Get("group"); g != "" {
		ch.Group = &g
	}
	switch d := r.PostForm.Get("disabled"); d {
	case "":
	case "true", "false":
		disabled := d == "true"
		ch.Disabled = &disabled
	default:
		s.renderUsers(w, r, auditlog.FieldErrorf("disabled", "disabled must be true or false"))
		return
	}
	if ch.Group == nil && ch.Disabled == nil {
		s.renderUsers(w, r, auditlog.FieldErrorf("group", "choose a group, or disable or enable the user"))
		return
	}
	if _, err := s.store.UpdateUser(r.Context(), s.actor(r), r.PathValue("username"), ch); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	done(w, r, "/admin/users", "user-changed")
}

// handleDeleteUserForm marks a user deleted (restorable).
func (s *Server) handleDeleteUserForm(w http.ResponseWriter, r *http.Request) {
	s.userStateForm(w, r, s.store.DeleteUser, "user-deleted")
}

// handleRestoreUserForm brings a deleted user back.
func (s *Server) handleRestoreUserForm(w http.ResponseWriter, r *http.Request) {
	s.userStateForm(w, r, s.store.RestoreUser, "user-restored")
}

// userStateForm applies change to the path's user and confirms with code.
func (s *Server) userStateForm(w http.ResponseWriter, r *http.Request,
	change func(ctx context.Context, by auditlog.Actor, username string) (*auditlog.User, error), code string) {
	if err := s.parseForm(w, r); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	if _, err := change(r.Context(), s.actor(r), r.PathValue("username")); err != nil {
		s.renderUsers(w, r, err)
		return
	}
	done(w, r, "/admin/users", code)
}

type groupsPage struct {
	Groups      []auditlog.Group
	Permissions []auditlog.Permission
	Admin       string
}

func (s *Server) handleGroupsPage(w http.ResponseWriter, r *http.Request) { s.renderGroups(w, r, nil) }

func (s *Server) renderGroups(w http.ResponseWriter, r *http.Request, formErr error) {
	groups, err := s.store.Groups(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	v := adminView(r, "Permission Groups", "groups", formErr)
	v.Page = groupsPage{Groups: groups, Permissions: auditlog.AllPermissions, Admin: auditlog.SystemAdminGroup}
	s.render(w, r, formStatus(formErr), "groups", v)
}

// formPermissions reads the form's checked permissions.
func formPermissions(f url.Values, field string) *[]auditlog.Permission {
	ps := []auditlog.Permission{}
	for _, p := range f[field] {
		ps = append(ps, auditlog.Permission(p))
	}
	return &ps
}

func (s *Server) handleCreateGroupForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	name := r.PostForm.Get("name")
	if _, err := s.createGroup(r, groupRequest{Name: &name, Permissions: formPermissions(r.PostForm, "permissions")}); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	done(w, r, "/admin/groups", "group-created")
}

// handleEditGroupForm sets a group's permissions to the checked ones.
func (s *Server) handleEditGroupForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	if _, err := s.updateGroup(r, r.PathValue("name"), groupRequest{Permissions: formPermissions(r.PostForm, "permissions")}); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	done(w, r, "/admin/groups", "group-changed")
}

// handleDeleteGroupForm deletes a group that no user belongs to.
func (s *Server) handleDeleteGroupForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	if err := s.store.DeleteGroups(r.Context(), s.actor(r), []string{r.PathValue("name")}); err != nil {
		s.renderGroups(w, r, err)
		return
	}
	done(w, r, "/admin/groups", "group-deleted")
}

type tokensPage struct {
	Tokens []tokenJSON
	Users  []auditlog.User
	Scopes []auditlog.Permission
	// Lifetimes are the offered expiries, in seconds.
	Lifetimes []tokenLifetime
	// Created is the token just made or reset, shown with its secret this once.
	Created *tokenJSON
	Secret  string
	// Reset says that Created's secret replaces an earlier one.
	Reset bool
}

type tokenLifetime struct {
	Seconds int64
	Name    string
}

var tokenLifetimes = []tokenLifetime{{30 * 86400, "30 days"}, {90 * 86400, "90 days"}, {365 * 86400, "1 year"}, {0, "never"}}

func (s *Server) handleTokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderTokens(w, r, tokensPage{}, nil)
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, page tokensPage, formErr error) {
	tokens, err := s.store.Tokens(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	users, err := s.store.Users(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	for i := range tokens {
		page.Tokens = append(page.Tokens, s.tokenView(&tokens[i]))
	}
	page.Users, page.Scopes, page.Lifetimes = users, auditlog.AllPermissions, tokenLifetimes
	v := adminView(r, "API Tokens", "tokens", formErr)
	v.Page = page
	s.render(w, r, formStatus(formErr), "tokens", v)
}

// handleCreateTokenForm makes a token and shows its secret once: the
// answer is the page itself, never a redirect that a reload could repeat.
func (s *Server) handleCreateTokenForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	f := r.PostForm
	in := newTokenRequest{Name: f.Get("name"), Scopes: *formPermissions(f, "scopes"), User: f.Get("user")}
	if e := f.Get("expires_in"); e != "" && e != "0" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			s.renderTokens(w, r, tokensPage{}, auditlog.FieldErrorf("expires_in", "expires_in must be a number of seconds"))
			return
		}
		in.ExpiresIn = &n
	}
	t, secret, err := s.createToken(r, in)
	if err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	view := s.tokenView(t)
	s.renderTokens(w, r, tokensPage{Created: &view, Secret: secret}, nil)
}

// handleResetTokenForm gives a token a new secret and shows it once, as
// handleCreateTokenForm does.
func (s *Server) handleResetTokenForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	secret := auditlog.GenerateTokenSecret()
	t, err := s.store.ResetToken(r.Context(), s.actor(r), id, secret)
	if err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	view := s.tokenView(t)
	s.renderTokens(w, r, tokensPage{Created: &view, Secret: secret, Reset: true}, nil)
}

func (s *Server) handleRevokeTokenForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	id, err := pathID(r)
	if err == nil {
		_, err = s.store.RevokeToken(r.Context(), s.actor(r), id)
	}
	if err != nil {
		s.renderTokens(w, r, tokensPage{}, err)
		return
	}
	done(w, r, "/admin/tokens", "token-revoked")
}

type sessionsPage struct {
	Sessions []auditlog.Session
	// Own is the viewer's own session, which this page does not end.
	Own int64
}

func (s *Server) handleSessionsPage(w http.ResponseWriter, r *http.Request) {
	s.renderSessions(w, r, nil)
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, formErr error) {
	sessions, err := s.store.Sessions(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	v := adminView(r, "Sessions", "sessions", formErr)
	v.Page = sessionsPage{Sessions: sessions, Own: principalFrom(r.Context()).SessionID}
	s.render(w, r, formStatus(formErr), "sessions", v)
}

// handleEndSessionsForm ends the path's session, or every session of the
// path's user, recorded as Reset User Authorization Token.
func (s *Server) handleEndSessionsForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderSessions(w, r, err)
		return
	}
	sel := auditlog.SessionSelector{Username: r.PathValue("username")}
	if r.PathValue("id") != "" {
		id, err := pathID(r)
		if err != nil {
			s.renderSessions(w, r, err)
			return
		}
		sel.ID = id
	}
	if _, err := s.store.RevokeSessions(r.Context(), s.actor(r), sel); err != nil {
		s.renderSessions(w, r, err)
		return
	}
	done(w, r, "/admin/sessions", "sessions-ended")
}

type activityTypesPage struct {
	Types []auditlog.ActivityType
	// Shown counts Types; Builtin the catalogue's types built in.
	Shown, Builtin int64
	Query          string
}

func (s *Server) handleActivityTypesPage(w http.ResponseWriter, r *http.Request) {
	s.renderActivityTypes(w, r, nil)
}

// renderActivityTypes lists the catalogue, narrowed to the types whose
// names, subtypes, description or version hold every word of q.
func (s *Server) renderActivityTypes(w http.ResponseWriter, r *http.Request, formErr error) {
	types, err := s.store.ActivityTypes(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	page := activityTypesPage{Query: r.URL.Query().Get("q")}
	words := strings.Fields(strings.ToLower(page.Query))
	for _, t := range types {
		if !t.Custom {
			page.Builtin++
		}
		text := strings.ToLower(t.DisplayName + " " + t.SystemName + " " + t.Description + " " + t.IntroducedIn)
		for _, sub := range t.Subtypes {
			text += " " + strings.ToLower(sub.DisplayName+" "+sub.SystemName)
		}
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
			page.Types = append(page.Types, t)
			page.Shown++
		}
	}
	v := adminView(r, "Activity Types", "activity-types", formErr)
	v.Page = page
	s.render(w, r, formStatus(formErr), "activity_types", v)
}

func (s *Server) handleCreateActivityTypeForm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderActivityTypes(w, r, err)
		return
	}
	t := auditlog.ActivityType{DisplayName: r.PostForm.Get("display_name"), Description: r.PostForm.Get("description"),
		Subtypes: auditlog.SubtypesNamed(r.PostForm.Get("subtypes"))}
	if _, err := s.store.CreateActivityType(r.Context(), s.actor(r), t); err != nil {
		s.renderActivityTypes(w, r, err)
		return
	}
	done(w, r, "/admin/activity-types", "type-created")
}
