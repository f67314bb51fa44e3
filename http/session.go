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

// handleLogin checks a username and password and opens a session.
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
	u, sess, err := s.login(w, r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := principalJSON{Username: u.Username, Operator: auditlog.OperatorHuman, Via: "session", SessionID: sess.ID,
		Permissions: []auditlog.Permission{}, Expires: &sess.Expires}
	if g, err := s.store.FindGroup(r.Context(), u.GroupName); err == nil {
		v.Permissions = g.Permissions
	}
	writeJSON(w, http.StatusCreated, v)
}

// login checks a username and password, opens a session and sets its
// cookies on w; the JSON login and the web UI's login form share it. A
// wrong password, an unknown user and a disabled or deleted one get the
// same error after the same work: one password verification. Failures
// are throttled and recorded as LOGIN_FAILED; a session is recorded as
// the user's login.
func (s *Server) login(w http.ResponseWriter, r *http.Request, in loginRequest) (*auditlog.User, *auditlog.Session, error) {
	switch {
	case in.Username == "":
		return nil, nil, auditlog.FieldErrorf("username", "username is required")
	case in.Password == "":
		return nil, nil, auditlog.FieldErrorf("password", "password is required")
	case len(in.Username) > auditlog.MaxUsernameLen:
		return nil, nil, auditlog.FieldErrorf("username", "username is longer than %d bytes", auditlog.MaxUsernameLen)
	case len(in.Password) > password.MaxLength:
		return nil, nil, auditlog.FieldErrorf("password", "password is longer than %d bytes", password.MaxLength)
	}
	ctx := r.Context()
	address := s.clientAddress(r)
	known := false
	if c, err := r.Cookie(DeviceCookie); err == nil {
		known = s.throttle.knownDevice(c.Value, in.Username)
	}
	wait, release := s.throttle.reserve(in.Username, address, known)
	if wait > 0 {
		s.metrics.loginsThrottled.Inc()
		s.log.WarnContext(ctx, "login throttled", "client_address", address, "retry_after", wait)
		if record, before := s.throttle.throttledTrace(in.Username, address); record {
			s.recordLoginThrottled(r, in.Username, before)
		}
		seconds := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		return nil, nil, auditlog.Errorf(auditlog.ERATELIMIT, "too many failed logins: try again in %d seconds", seconds)
	}
	failed := true
	defer func() { release(failed) }()
	// Each password check holds about 19 MiB (argon2id): a bounded number
	// run at once, so that no burst of logins exhausts memory; the others
	// wait for a while, and are then turned away.
	waiting := time.NewTimer(hashWait)
	select {
	case s.hashing <- struct{}{}:
		waiting.Stop()
		defer func() { <-s.hashing }()
	case <-waiting.C:
		failed = false
		w.Header().Set("Retry-After", "1")
		return nil, nil, auditlog.Errorf(auditlog.EUNAVAILABLE, "too many logins at once: try again in a second")
	case <-ctx.Done():
		failed = false
		waiting.Stop()
		return nil, nil, ctx.Err()
	}

	u, err := s.store.FindUser(ctx, in.Username)
	if err != nil && auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		return nil, nil, err
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
		s.recordLoginFailure(r, in.Username, reason, u != nil)
		return nil, nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "wrong username or password")
	}

	secret := auditlog.GenerateSessionSecret()
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: u.Username, Client: s.client(r)}
	now := s.now()
	sess, err := s.store.CreateSession(ctx, by, auditlog.NewSession{
		Username: u.Username, Expires: now.Add(s.sessionTTL).UTC().Truncate(time.Microsecond), IdleTimeout: s.sessionIdle,
		ClientAddress: address, UserAgent: auditlog.Clip(r.UserAgent(), 512),
	}, secret)
	if err != nil {
		return nil, nil, err
	}
	failed = false
	s.throttle.succeeded(in.Username, address)
	secure := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	// The device cookie goes only to the login route it came from: the
	// session API's or the login form's.
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: s.throttle.deviceCookie(u.Username), Path: r.URL.Path,
		MaxAge: int(deviceCookieLifetime / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	return u, sess, nil
}

// recordLoginFailure records LOGIN_FAILED for the attempted username, when
// it names a user. A name that names nobody is not recorded (it is often a
// password typed into the wrong field), only a keyed hash of it, which
// tells repeated attempts with one name apart from others. A failure to
// record is logged: the client's answer is 401 either way.
func (s *Server) recordLoginFailure(r *http.Request, username, reason string, known bool) {
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: auditlog.SafeUsername(username), Client: s.client(r)}
	attempted := ""
	if !known {
		by.Username, attempted = "", s.throttle.unknownNameHash(username)
	}
	if by.Username == "" {
		by.Operator = auditlog.OperatorMachine
	}
	if _, err := s.store.RecordActivities(r.Context(), auditlog.RecordedByService, []auditlog.NewActivity{auditlog.LoginFailed(by, reason, attempted)}); err != nil {
		s.log.ErrorContext(r.Context(), "recording a failed login failed", "err", err)
	}
}

// hashWait is how long a login waits for a password check to be free.
const hashWait = 3 * time.Second

// recordLoginThrottled records that logins of the attempted username from
// the client were refused by the throttle: refusedBefore more were
// refused, unrecorded, since the last such record. A name that names
// nobody is recorded as a keyed hash, as for a failure.
func (s *Server) recordLoginThrottled(r *http.Request, username string, refusedBefore int) {
	by := auditlog.Actor{Operator: auditlog.OperatorMachine, Client: s.client(r)}
	attempted := s.throttle.unknownNameHash(username)
	if u, err := s.store.FindUser(r.Context(), username); err == nil && u != nil {
		by.Operator, by.Username, attempted = auditlog.OperatorHuman, u.Username, ""
	}
	if _, err := s.store.RecordActivities(r.Context(), auditlog.RecordedByService, []auditlog.NewActivity{auditlog.LoginThrottled(by, attempted, refusedBefore)}); err != nil {
		s.log.ErrorContext(r.Context(), "recording a throttled login failed", "err", err)
	}
}

// handleSession describes the principal of the request.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, principalView(principalFrom(r.Context())))
}

// handleLogout ends the request's session and clears its cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.logout(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logout ends the request's session and clears its cookie; the session API
// and the web UI's logout button share it.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	c, err := r.Cookie(SessionCookie)
	if p.SessionID == 0 || err != nil {
		return auditlog.FieldErrorf("Authorization", "logging out ends a session: send the session cookie, not a token")
	}
	if err := s.store.EndSession(r.Context(), s.actor(r), c.Value); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	return nil
}
