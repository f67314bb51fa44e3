package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// The administration endpoints: users, permission groups, API tokens and
// sessions. Each needs the admin permission (see NewServer); the store
// records every change in the audit log.

type newUserRequest struct {
	Username string `json:"username"`
	Group    string `json:"group"`
	Password string `json:"password"`
}

type userPatch struct {
	Group    *string `json:"group"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
}

// respond writes v as the answer with status, or err when there is one.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.store.Users(r.Context())
	s.respond(w, r, http.StatusOK, struct {
		Users []auditlog.User `json:"users"`
	}{users}, err)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.store.FindUser(r.Context(), r.PathValue("username"))
	s.respond(w, r, http.StatusOK, u, err)
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var in newUserRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.createUser(r, in)
	s.respond(w, r, http.StatusCreated, u, err)
}

// createUser checks and creates a user; the API and the web UI share it.
func (s *Server) createUser(r *http.Request, in newUserRequest) (*auditlog.User, error) {
	if in.Group == "" {
		return nil, auditlog.FieldErrorf("group", "group is required")
	}
	if err := password.Check("password", in.Password); err != nil {
		return nil, err
	}
	return s.store.CreateUser(r.Context(), s.actor(r), in.Username, in.Group, password.Hash(in.Password, s.passwordParams))
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var in userPatch
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Group == nil && in.Password == nil && in.Disabled == nil {
		s.fail(w, r, auditlog.FieldErrorf("body", "send at least one of group, password and disabled"))
		return
	}
	ch := auditlog.UserChange{Group: in.Group, Disabled: in.Disabled}
	if in.Password != nil {
		if err := password.Check("password", *in.Password); err != nil {
			s.fail(w, r, err)
			return
		}
		hash := password.Hash(*in.Password, s.passwordParams)
		ch.PasswordHash = &hash
	}
	u, err := s.store.UpdateUser(r.Context(), s.actor(r), r.PathValue("username"), ch)
	s.respond(w, r, http.StatusOK, u, err)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.store.DeleteUser(r.Context(), s.actor(r), r.PathValue("username"))
	s.respond(w, r, http.StatusOK, u, err)
}

func (s *Server) handleRestoreUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.store.RestoreUser(r.Context(), s.actor(r), r.PathValue("username"))
	s.respond(w, r, http.StatusOK, u, err)
}

type groupRequest struct {
	Name        *string                `json:"name"`
	Permissions *[]auditlog.Permission `json:"permissions"`
}

// checkPermissions refuses unknown permission names and drops repeated ones.
func checkPermissions(field string, ps *[]auditlog.Permission) error {
	if ps == nil {
		return nil
	}
	checked, err := auditlog.CheckPermissions(field, *ps, true)
	*ps = checked
	return err
}

func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request) {
	groups, err := s.store.Groups(r.Context())
	s.respond(w, r, http.StatusOK, struct {
		Groups []auditlog.Group `json:"groups"`
	}{groups}, err)
}

func (s *Server) handleGetGroup(w http.ResponseWriter, r *http.Request) {
	g, err := s.store.FindGroup(r.Context(), r.PathValue("name"))
	s.respond(w, r, http.StatusOK, g, err)
}

func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request) {
	var in groupRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	g, err := s.createGroup(r, in)
	s.respond(w, r, http.StatusCreated, g, err)
}

// createGroup checks and creates a group; the API and the web UI share it.
func (s *Server) createGroup(r *http.Request, in groupRequest) (*auditlog.Group, error) {
	if err := checkPermissions("permissions", in.Permissions); err != nil {
		return nil, err
	}
	name, perms := "", []auditlog.Permission{}
	if in.Name != nil {
		name = *in.Name
	}
	if in.Permissions != nil {
		perms = *in.Permissions
	}
	return s.store.CreateGroup(r.Context(), s.actor(r), name, perms)
}

func (s *Server) handleUpdateGroup(w http.ResponseWriter, r *http.Request) {
	var in groupRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	g, err := s.updateGroup(r, r.PathValue("name"), in)
	s.respond(w, r, http.StatusOK, g, err)
}

// updateGroup checks and applies an edit of a group; the API and the web
// UI share it.
func (s *Server) updateGroup(r *http.Request, name string, in groupRequest) (*auditlog.Group, error) {
	if in.Name == nil && in.Permissions == nil {
		return nil, auditlog.FieldErrorf("body", "send at least one of name and permissions")
	}
	if err := checkPermissions("permissions", in.Permissions); err != nil {
		return nil, err
	}
	return s.store.UpdateGroup(r.Context(), s.actor(r), name, auditlog.GroupChange{Name: in.Name, Permissions: in.Permissions})
}

// handleDeleteGroups deletes the group of the path, or the groups named by
// the repeated name parameter, all or none.
func (s *Server) handleDeleteGroups(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["name"]
	if name := r.PathValue("name"); name != "" {
		names = []string{name}
	}
	if len(names) == 0 {
		s.fail(w, r, auditlog.FieldErrorf("name", "name the permission groups to delete: ?name=A&name=B"))
		return
	}
	if len(names) > auditlog.MaxFilterValues {
		s.fail(w, r, auditlog.FieldErrorf("name", "at most %d groups at once", auditlog.MaxFilterValues))
		return
	}
	if err := s.store.DeleteGroups(r.Context(), s.actor(r), names); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type newTokenRequest struct {
	Name      string                `json:"name"`
	Scopes    []auditlog.Permission `json:"scopes"`
	User      string                `json:"user"`
	ExpiresIn *int64                `json:"expires_in"` // seconds
}

// tokenJSON is a token as the API shows it.
type tokenJSON struct {
	ID       int64                 `json:"id"`
	Name     string                `json:"name"`
	Scopes   []auditlog.Permission `json:"scopes"`
	Username string                `json:"user"` // "" for a machine account
	Created  time.Time             `json:"created"`
	Expires  *time.Time            `json:"expires"` // null: never
	State    string                `json:"state"`   // active, expired or revoked
}

func (s *Server) tokenView(t *auditlog.Token) tokenJSON {
	v := tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Username: t.Username, Created: t.Created, State: "active"}
	if !t.Expires.IsZero() {
		v.Expires = &t.Expires
	}
	if err := auditlog.CheckTokenLive(t, s.now()); err != nil {
		v.State = "expired"
		if t.Revoked {
			v.State = "revoked"
		}
	}
	return v
}

// tokenSecretJSON answers a request that made a token secret: shown this
// once and never again.
type tokenSecretJSON struct {
	Token  tokenJSON `json:"token"`
	Secret string    `json:"secret"`
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	tokens, err := s.store.Tokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]tokenJSON, len(tokens))
	for i := range tokens {
		out[i] = s.tokenView(&tokens[i])
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []tokenJSON `json:"tokens"`
	}{out})
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var in newTokenRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	t, secret, err := s.createToken(r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenSecretJSON{Token: s.tokenView(t), Secret: secret})
}

// createToken checks and creates a token and returns it with its secret;
// the API and the web UI share it.
func (s *Server) createToken(r *http.Request, in newTokenRequest) (*auditlog.Token, string, error) {
	if err := checkPermissions("scopes", &in.Scopes); err != nil {
		return nil, "", err
	}
	nt := auditlog.NewToken{Name: in.Name, Scopes: in.Scopes, Username: in.User}
	if in.ExpiresIn != nil {
		if *in.ExpiresIn <= 0 || *in.ExpiresIn > maxTokenLifetime {
			return nil, "", auditlog.FieldErrorf("expires_in", "expires_in must be between 1 and %d seconds", maxTokenLifetime)
		}
		nt.Expires = s.now().Add(time.Duration(*in.ExpiresIn) * time.Second).UTC().Truncate(time.Microsecond)
	}
	secret := auditlog.GenerateTokenSecret()
	t, err := s.store.CreateToken(r.Context(), s.actor(r), nt, secret)
	return t, secret, err
}

// maxTokenLifetime is the longest expires_in, ten years in seconds.
const maxTokenLifetime = 10 * 365 * 24 * 3600

// pathID reads the numeric id of the path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, auditlog.FieldErrorf("id", "id must be a positive integer")
	}
	return id, nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.store.RevokeToken(r.Context(), s.actor(r), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.tokenView(t))
}

func (s *Server) handleResetToken(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret := auditlog.GenerateTokenSecret()
	t, err := s.store.ResetToken(r.Context(), s.actor(r), id, secret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenSecretJSON{Token: s.tokenView(t), Secret: secret})
}

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	sessions, err := s.store.Sessions(r.Context())
	s.respond(w, r, http.StatusOK, struct {
		Sessions []auditlog.Session `json:"sessions"`
	}{sessions}, err)
}

// handleRevokeSessions ends the session of the path's id, or every session
// of the path's user or group.
func (s *Server) handleRevokeSessions(w http.ResponseWriter, r *http.Request) {
	sel := auditlog.SessionSelector{Username: r.PathValue("username"), Group: r.PathValue("name")}
	if r.PathValue("id") != "" {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		sel.ID = id
	}
	n, err := s.store.RevokeSessions(r.Context(), s.actor(r), sel)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Revoked int `json:"revoked"`
	}{n})
}
