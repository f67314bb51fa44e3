package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/password"
)

// maxAdminBody bounds the body of a login or administration request.
const maxAdminBody = 1 << 20

// decodeBody reads r's JSON body into v: one object, no unknown keys, no
// trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return auditlog.Errorf(auditlog.ETOOLARGE, "request body over the limit of %d bytes", maxAdminBody)
		}
		return decodeError(err, "", -1)
	}
	return expectEnd(dec)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// principalJSON describes who a request authenticates as.
type principalJSON struct {
	Username    string                `json:"username"`
	Operator    auditlog.Operator     `json:"operator"`
	Permissions []auditlog.Permission `json:"permissions"`
	Via         string                `json:"authenticated_by"` // "session" or "token"
	TokenName   string                `json:"token_name,omitempty"`
	SessionID   int64                 `json:"session_id,omitempty"`
	Expires     *time.Time            `json:"session_expires,omitempty"`
}

func principalView(p *auditlog.Principal) principalJSON {
	v := principalJSON{Username: p.Username, Operator: p.Operator(), Permissions: p.Permissions, Via: "token", TokenName: p.Name}
	if p.SessionID != 0 {
		v.Via, v.TokenName, v.SessionID = "session", "", p.SessionID
	}
	return v
}

// handleLogin checks a username and password and opens a session. A wrong
// password, an unknown user and a disabled or deleted one get the same
// answer after the same work: one password verification.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.checkSameOrigin(r); err != nil {
		s.fail(w, r, err)
		return
	}
	var in loginRequest
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case in.Username == "":
		s.fail(w, r, auditlog.FieldErrorf("username", "username is required"))
		return
	case in.Password == "":
		s.fail(w, r, auditlog.FieldErrorf("password", "password is required"))
		return
	case len(in.Username) > auditlog.MaxUsernameLen:
		s.fail(w, r, auditlog.FieldErrorf("username", "username is longer than %d bytes", auditlog.MaxUsernameLen))
		return
	case len(in.Password) > password.MaxLength:
		s.fail(w, r, auditlog.FieldErrorf("password", "password is longer than %d bytes", password.MaxLength))
		return
	}
	ctx := r.Context()
	address := s.clientAddress(r)
	known := false
	if c, err := r.Cookie(DeviceCookie); err == nil {
		known = s.throttle.knownDevice(c.Value, in.Username)
	}
	if wait := s.throttle.wait(in.Username, address, known); wait > 0 {
		s.metrics.loginsThrottled.Inc()
		s.log.WarnContext(ctx, "login throttled", "client_address", address, "retry_after", wait)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.fail(w, r, auditlog.Errorf(auditlog.ERATELIMIT, "too many failed logins: try again later"))
		return
	}

	u, err := s.store.FindUser(ctx, in.Username)
	if err != nil && auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	hash := s.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	ok, verr := s.verifyPassword(in.Password, hash)
	reason := ""
	switch {
	case u == nil:
		reason = "unknown user"
	case verr != nil:
		reason = "unreadable password hash"
	case !ok:
		reason = "wrong password"
	case u.Disabled:
		reason = "user disabled"
	case u.Deleted:
		reason = "user deleted"
	}
	if reason != "" {
		s.throttle.failed(in.Username, address, known)
		s.recordLoginFailure(r, in.Username, reason)
		s.fail(w, r, auditlog.Errorf(auditlog.EUNAUTHORIZED, "wrong username or password"))
		return
	}

	secret := auditlog.GenerateSessionSecret()
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: u.Username, Client: s.client(r)}
	now := s.now()
	sess, err := s.store.CreateSession(ctx, by, auditlog.NewSession{
		Username: u.Username, Expires: now.Add(s.sessionTTL), IdleTimeout: s.sessionIdle,
		ClientAddress: address, UserAgent: auditlog.Clip(r.UserAgent(), 512),
	}, secret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.throttle.succeeded(in.Username, address)
	secure := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: s.throttle.deviceCookie(u.Username), Path: "/api/v1/session",
		MaxAge: int(deviceCookieLifetime / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	p, err := s.store.AuthenticateSession(ctx, secret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := principalView(p)
	v.Expires = &sess.Expires
	writeJSON(w, http.StatusCreated, v)
}

// recordLoginFailure records LOGIN_FAILED for the attempted username. A
// failure to record it is logged: the client's answer is 401 either way.
func (s *Server) recordLoginFailure(r *http.Request, username, reason string) {
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: auditlog.SafeUsername(username), Client: s.client(r)}
	if by.Username == "" {
		by.Operator = auditlog.OperatorMachine
	}
	if _, err := s.store.RecordActivities(r.Context(), []auditlog.NewActivity{auditlog.LoginFailed(by, reason)}); err != nil {
		s.log.ErrorContext(r.Context(), "recording a failed login failed", "err", err)
	}
}

// handleSession describes the principal of the request.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, principalView(principalFrom(r.Context())))
}

// handleLogout ends the request's session and clears its cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	c, err := r.Cookie(SessionCookie)
	if p.SessionID == 0 || err != nil {
		s.fail(w, r, auditlog.FieldErrorf("Authorization", "logging out ends a session: send the session cookie, not a token"))
		return
	}
	if err := s.store.EndSession(r.Context(), s.actor(r), c.Value); err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}
