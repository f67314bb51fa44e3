package http

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
)

// anyPermission marks a route open to every authenticated principal.
const anyPermission auditlog.Permission = ""

// SessionCookie is the name of the session cookie.
const SessionCookie = "auditlog_session"

type principalKey struct{}

// principalFrom returns the principal that authenticate put in the context.
func principalFrom(ctx context.Context) *auditlog.Principal {
	p, _ := ctx.Value(principalKey{}).(*auditlog.Principal)
	return p
}

// route registers an authenticated handler that requires perm.
func (s *Server) route(pattern string, perm auditlog.Permission, h http.HandlerFunc) {
	s.routes = append(s.routes, routeInfo{pattern: pattern, perm: perm})
	s.mux.HandleFunc(pattern, s.authorized(perm, h, s.fail))
}

// authorized wraps h: it runs with the request's principal in its context
// when the principal holds perm, and refuse answers the request otherwise.
func (s *Server) authorized(perm auditlog.Permission, h http.HandlerFunc, refuse func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			refuse(w, r, err)
			return
		}
		if err := authorize(p, perm); err != nil {
			refuse(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// authenticate finds the principal behind the request: its bearer token
// when it has an Authorization header, otherwise its session cookie. A
// request that rides on the cookie must come from the service's own
// origin (cross-site request forgery protection); a bearer token is never
// sent by a browser on its own, so it needs no such check.
func (s *Server) authenticate(r *http.Request) (*auditlog.Principal, error) {
	if header := r.Header.Get("Authorization"); header != "" {
		token, err := parseBearer(header)
		if err != nil {
			return nil, err
		}
		return s.store.Authenticate(r.Context(), token)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "authentication required: send Authorization: Bearer <token>, or log in")
	}
	if err := s.checkSameOrigin(r); err != nil {
		return nil, err
	}
	return s.store.AuthenticateSession(r.Context(), c.Value)
}

// parseBearer reads the token of an Authorization header.
func parseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", auditlog.Errorf(auditlog.EUNAUTHORIZED, "the Authorization header must be: Bearer <token>")
	}
	return token, nil
}

// checkSameOrigin refuses a state-changing request that a browser sent
// from another site.
func (s *Server) checkSameOrigin(r *http.Request) error {
	if err := s.crossOrigin.Check(r); err != nil {
		return auditlog.Errorf(auditlog.EFORBIDDEN, "cross-site request refused")
	}
	return nil
}

// checkSameOriginExport refuses an export that a browser sent from
// another site with the session cookie: a GET, but one that records
// itself and hands the log to whoever made the browser ask. It applies
// the same rule as to a state-changing request.
func (s *Server) checkSameOriginExport(r *http.Request) error {
	if r.Header.Get("Authorization") != "" {
		return nil // a bearer token is never sent by a browser on its own
	}
	asChange := *r
	asChange.Method = http.MethodPost
	return s.checkSameOrigin(&asChange)
}

// authorize is the policy: a route that needs a permission is open to the
// principals that hold it.
func authorize(p *auditlog.Principal, perm auditlog.Permission) error {
	if perm == anyPermission || p.Can(perm) {
		return nil
	}
	return auditlog.Errorf(auditlog.EFORBIDDEN, "this requires the %s permission", perm)
}

// clientAddress is the address of the client behind r: the peer, or, when
// the peer is a trusted proxy, the last address in X-Forwarded-For that is
// not one of the trusted proxies.
func (s *Server) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // not an address: whatever is left of it is the client's say
		}
		host = hop
		if !s.trusted(hop) {
			break
		}
	}
	return host
}

// trusted reports whether addr is one of the configured proxies.
func (s *Server) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secure reports whether the client reached the service over TLS, directly
// or through a trusted proxy that says so.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return s.trusted(host) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// actor describes the principal of r for the activities the service records
// about itself: who, and through which client. It never includes a secret.
func (s *Server) actor(r *http.Request) auditlog.Actor {
	p := principalFrom(r.Context())
	a := auditlog.Actor{Operator: p.Operator(), Username: p.Username, Client: s.client(r)}
	if p.SessionID != 0 {
		a.Client["session_id"] = strconv.FormatInt(p.SessionID, 10)
	} else {
		a.Client["token"] = p.Name
	}
	return a
}

// client describes the client of r: its address and user agent.
func (s *Server) client(r *http.Request) map[string]string {
	c := map[string]string{"client_address": s.clientAddress(r)}
	if ua := r.UserAgent(); ua != "" {
		c["user_agent"] = ua
	}
	return c
}
