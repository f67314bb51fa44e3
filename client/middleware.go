package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"slices"
)

// MiddlewareConfig configures Middleware. Only Emitter is required.
type MiddlewareConfig struct {
	// Emitter records the activities of the requests.
	Emitter *Emitter
	// Actor returns who makes a request: the operator (Human or Machine)
	// and, for a human, the username. Without it, or when it returns an
	// empty operator, an activity keeps the operator and username it was
	// given.
	Actor func(*http.Request) (operator, username string)
	// ClientAddress returns the client's address; the host of
	// RemoteAddr when nil. Behind a reverse proxy, read the header the
	// proxy sets, and only from the proxy.
	ClientAddress func(*http.Request) string
	// RequestIDHeader is the header that carries a request id in and out
	// ("X-Request-Id" when empty): an incoming one is kept, otherwise one
	// is generated, and either is set on the response.
	RequestIDHeader string
}

// The keys of Extra that Middleware fills (a key the handler set is kept).
const (
	ExtraClientAddress = "client_address"
	ExtraUserAgent     = "user_agent"
	ExtraRequestID     = "request_id"
)

type requestKey struct{}

// requestAudit is what Middleware keeps in a request's context.
type requestAudit struct {
	cfg                                    MiddlewareConfig
	operator, username, address, agent, id string
}

// Middleware returns net/http middleware after which a handler records
// with EmitFor(r.Context(), ...): each activity gets the request's actor,
// the client's address and user agent and the request id.
func Middleware(cfg MiddlewareConfig) func(http.Handler) http.Handler {
	header := cfg.RequestIDHeader
	if header == "" {
		header = "X-Request-Id"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ra := &requestAudit{cfg: cfg, agent: r.UserAgent(), id: r.Header.Get(header)}
			if !validRequestID(ra.id) {
				ra.id = newRequestID()
			}
			w.Header().Set(header, ra.id)
			if cfg.ClientAddress != nil {
				ra.address = cfg.ClientAddress(r)
			} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				ra.address = host
			} else {
				ra.address = r.RemoteAddr
			}
			if cfg.Actor != nil {
				ra.operator, ra.username = cfg.Actor(r)
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, ra)))
		})
	}
}

// EmitFor emits activities through the emitter of the Middleware that ctx
// (a request's context) went through, with the request's details filled
// in: the actor (unless the activity names its own operator), and Extra's
// client_address, user_agent and request_id.
func EmitFor(ctx context.Context, activities ...Activity) error {
	ra, ok := ctx.Value(requestKey{}).(*requestAudit)
	if !ok {
		return errors.New("auditlog: EmitFor needs the context of a request that went through client.Middleware")
	}
	activities = slices.Clone(activities)
	for i := range activities {
		a := &activities[i]
		if a.Operator == "" && ra.operator != "" {
			a.Operator, a.Username = ra.operator, ra.username
		}
		extra := make(map[string]any, len(a.Extra)+3)
		for k, v := range map[string]string{ExtraClientAddress: ra.address, ExtraUserAgent: ra.agent, ExtraRequestID: ra.id} {
			if v != "" {
				extra[k] = v
			}
		}
		for k, v := range a.Extra {
			extra[k] = v
		}
		a.Extra = extra
	}
	return ra.cfg.Emitter.Emit(ctx, activities...)
}

// RequestID returns the request id Middleware gave the request of ctx.
func RequestID(ctx context.Context) string {
	if ra, ok := ctx.Value(requestKey{}).(*requestAudit); ok {
		return ra.id
	}
	return ""
}

// validRequestID accepts an incoming request id of up to 128 printable
// ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
