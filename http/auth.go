package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/auditlog/auditlog"
)

// anyPermission marks a route open to every authenticated principal.
const anyPermission auditlog.Permission = ""

type principalKey struct{}

// principalFrom returns the principal that authenticate put in the context.
func principalFrom(ctx context.Context) *auditlog.Principal {
	p, _ := ctx.Value(principalKey{}).(*auditlog.Principal)
	return p
}

// route registers an authenticated handler that requires perm.
func (s *Server) route(pattern string, perm auditlog.Permission, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := authorize(p, perm); err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// authenticate finds the principal behind the request's bearer token.
func (s *Server) authenticate(r *http.Request) (*auditlog.Principal, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "authentication required: send Authorization: Bearer <token>")
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "the Authorization header must be: Bearer <token>")
	}
	return s.store.Authenticate(r.Context(), token)
}

// authorize is the policy: a route that needs a permission is open to the
// principals that hold it.
func authorize(p *auditlog.Principal, perm auditlog.Permission) error {
	if perm == anyPermission || p.Can(perm) {
		return nil
	}
	return auditlog.Errorf(auditlog.EFORBIDDEN, "this requires the %s permission", perm)
}
